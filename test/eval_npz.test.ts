import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadNpz, saveNpz } from '../src/eval/npz.ts';
import * as torch from '../src/torch/index.ts';

const ROOT = join(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'd2c-npz-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The project Python (stamp.json's, else .venv's, else python3) if it has numpy; else null and why. */
function pythonWithNumpy(): { python: string | null; why: string } {
  const candidates: string[] = [];
  const stamp = join(ROOT, 'native', 'build', 'stamp.json');
  if (existsSync(stamp)) {
    const p = (JSON.parse(readFileSync(stamp, 'utf8')) as { python?: string }).python;
    if (p) candidates.push(p);
  }
  candidates.push(join(ROOT, '.venv', 'bin', 'python'), 'python3');
  for (const p of candidates) {
    if (p.includes('/') && !existsSync(p)) continue;
    const r = spawnSync(p, ['-c', 'import numpy'], { encoding: 'utf8' });
    if (r.status === 0) return { python: p, why: '' };
  }
  return { python: null, why: `no Python with numpy among ${candidates.join(', ')}` };
}

test('.npz round trip in TypeScript keeps dtype, shape and values (stored and deflated)', () => {
  torch.tidy(() => {
    const mu = torch.tensor([1.5, -2, 3.25], { dtype: 'float64' });
    const sigma = torch.randn([3, 4], { generator: new torch.Generator(1) });
    for (const compress of [false, true]) {
      const p = join(dir, `rt-${compress}.npz`);
      saveNpz(p, { mu, sigma }, { compress });
      const back = loadNpz(p);
      assert.deepEqual([...back.keys()], ['mu', 'sigma']);
      assert.equal(back.get('mu')!.dtype, 'float64');
      assert.equal(back.get('sigma')!.dtype, 'float32');
      assert.deepEqual(back.get('mu')!.toArray(), mu.toArray());
      assert.deepEqual(back.get('sigma')!.shape, [3, 4]);
      assert.deepEqual(back.get('sigma')!.toArray(), sigma.toArray());
    }
  });
});

test('a file that is not a zip is rejected with its path', () => {
  const p = join(dir, 'bad.npz');
  writeFileSync(p, 'hello');
  assert.throws(() => loadNpz(p), /bad\.npz: not a zip/);
});

const py = pythonWithNumpy();
test('.npz written by d2c loads in numpy, and numpy savez / savez_compressed / Fortran order load in d2c', {
  skip: py.python ? false : py.why,
}, () => {
  torch.tidy(() => {
    const ours = join(dir, 'ours.npz');
    const mu = torch.arange(0, 5, 1, { dtype: 'float64' }).div(3);
    const sigma = torch.arange(0, 6, 1, { dtype: 'float32' }).reshape(2, 3);
    saveNpz(ours, { mu, sigma }, { compress: true });
    const theirs = join(dir, 'theirs.npz');
    const theirsZ = join(dir, 'theirs_z.npz');
    const script = `
import numpy as np, sys, json
d = np.load(sys.argv[1])
assert d['mu'].dtype == np.float64 and d['sigma'].dtype == np.float32, (d['mu'].dtype, d['sigma'].dtype)
assert np.array_equal(d['mu'], np.arange(5) / 3) and np.array_equal(d['sigma'], np.arange(6, dtype=np.float32).reshape(2, 3))
a = np.arange(12, dtype=np.float64).reshape(3, 4) / 7
np.savez(sys.argv[2], mu=np.array([0.1, 0.2]), sigma=a, f=np.asfortranarray(a))
np.savez_compressed(sys.argv[3], mu=np.array([0.1, 0.2]), sigma=a.astype(np.float32))
print('ok')`;
    const out = execFileSync(py.python as string, ['-c', script, ours, theirs, theirsZ], { encoding: 'utf8' });
    assert.equal(out.trim(), 'ok');
    const expected = Array.from({ length: 12 }, (_, i) => i / 7);
    const t = loadNpz(theirs);
    assert.deepEqual(t.get('mu')!.toArray(), [0.1, 0.2]);
    assert.deepEqual(t.get('sigma')!.shape, [3, 4]);
    assert.deepEqual(t.get('sigma')!.toArray(), expected);
    assert.deepEqual(t.get('f')!.toArray(), expected, 'Fortran-ordered array read back in C order');
    const z = loadNpz(theirsZ);
    assert.equal(z.get('sigma')!.dtype, 'float32');
    assert.deepEqual(z.get('sigma')!.toArray(), Array.from(new Float32Array(expected)));
  });
});
