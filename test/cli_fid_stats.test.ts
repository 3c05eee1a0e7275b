// `d2c fid A.npz B.npz` of two statistics files needs no feature network: like pytorch-fid it
// compares any two that agree in size, and refuses only a mismatch between them, naming both sizes.
// (In-process: the command's own function, the one its action prints.)
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { statsFilesFid } from '../src/cli/commands/fid.ts';
import { saveNpz } from '../src/eval/npz.ts';
import * as torch from '../src/torch/index.ts';

const tmp = mkdtempSync(join(tmpdir(), 'd2c-fid-stats-'));

function stats(name: string, d: number, muValue: number): string {
  const path = join(tmp, name);
  saveNpz(path, { mu: torch.full([d], muValue, { dtype: 'float64' }), sigma: torch.eye(d, { dtype: 'float64' }) });
  return path;
}

test('two 64-d statistics files: the distance, with no network named; nothing left live', () => {
  const a = stats('a64.npz', 64, 0);
  const b = stats('b64.npz', 64, 0.5);
  const before = torch.liveTensors();
  // Equal covariances: FID = |mu_a − mu_b|² = 64 · 0.5².
  const r = statsFilesFid(a, b);
  assert.ok(r && Math.abs(r.fid - 16) < 1e-6, `fid ${r?.fid}`);
  assert.equal(r.n_features, 64);
  assert.equal('network' in r, false);
  assert.equal(torch.liveTensors(), before);
});

test('statistics of different sizes: an error naming both; a non-statistics .npz falls through', () => {
  assert.throws(
    () => statsFilesFid(stats('c64.npz', 64, 0), stats('d32.npz', 32, 0)),
    /c64\.npz holds 64-d statistics but .*d32\.npz holds 32-d ones: they must agree in size/,
  );
  const images = join(tmp, 'images.npz');
  saveNpz(images, { arr_0: torch.zeros([2, 4, 4, 1], { dtype: 'uint8' }) });
  assert.equal(statsFilesFid(stats('e64.npz', 64, 0), images), null);
  assert.equal(statsFilesFid('folder', 'other'), null);
  assert.throws(() => statsFilesFid(join(tmp, 'absent.npz'), images), /absent\.npz: no such file/);
});
