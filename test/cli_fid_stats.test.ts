// `d2c fid A.npz B.npz` of two statistics files needs no feature network: like pytorch-fid it
// compares any two that agree in size, and refuses only a mismatch between them, naming both sizes.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { saveNpz } from '../src/eval/npz.ts';
import * as torch from '../src/torch/index.ts';
import { d2c } from './helpers/tiny_pipeline.ts';

const tmp = mkdtempSync(join(tmpdir(), 'd2c-fid-stats-'));

function stats(name: string, d: number, muValue: number): string {
  const path = join(tmp, name);
  saveNpz(path, { mu: torch.full([d], muValue, { dtype: 'float64' }), sigma: torch.eye(d, { dtype: 'float64' }) });
  return path;
}

test('two 64-d statistics files: the distance, with no network named', () => {
  // Equal covariances: FID = |mu_a − mu_b|² = 64 · 0.5².
  const r = d2c('fid', stats('a64.npz', 64, 0), stats('b64.npz', 64, 0.5));
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1) as string);
  assert.ok(Math.abs(out.fid - 16) < 1e-6, `fid ${out.fid}`);
  assert.equal(out.n_features, 64);
  assert.equal(out.network, undefined);
});

test('statistics of different sizes: one d2c: line naming both', () => {
  const r = d2c('fid', stats('c64.npz', 64, 0), stats('d32.npz', 32, 0));
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^d2c: .*c64\.npz holds 64-d statistics but .*d32\.npz holds 32-d ones: they must agree in size\n$/);
});
