import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { featureStats, frechetDistance, loadStats } from '../src/eval/frechet.ts';
import * as torch from '../src/torch/index.ts';

const FIX = join(import.meta.dirname, 'fixtures', 'eval');
const REF = JSON.parse(readFileSync(join(FIX, 'fid_reference.json'), 'utf8')) as Record<
  string,
  { fid: number; offset_used: boolean }
>;

for (const [name, ref] of Object.entries(REF)) {
  test(`Fréchet distance of ${name} stats files equals scipy's to 1e-6 relative`, () => {
    torch.tidy(() => {
      const a = loadStats(join(FIX, `${name}_a.npz`)); // np.savez (stored)
      const b = loadStats(join(FIX, `${name}_b.npz`)); // np.savez_compressed (deflated)
      assert.equal(a.mu.dtype, 'float64');
      const { fid } = frechetDistance(a, b);
      const rel = Math.abs(fid - ref.fid) / Math.abs(ref.fid);
      assert.ok(rel < 1e-6, `${name}: d2c ${fid} vs scipy ${ref.fid} (relative error ${rel})`);
    });
  });
}

test('FID of a feature set against itself is ~0, and grows with a mean shift', () => {
  torch.tidy(() => {
    const g = new torch.Generator(3);
    const x = torch.randn([500, 16], { generator: g }).matmul(torch.randn([16, 16], { generator: g }));
    const s = featureStats(x);
    const self = frechetDistance(s, s).fid;
    assert.ok(Math.abs(self) < 1e-8, `FID(x, x) = ${self}`);
    const shifted = frechetDistance(s, featureStats(x.add(1))).fid;
    assert.ok(Math.abs(shifted - 16) < 1e-8, `a shift by 1 in 16 dims gives ${shifted}, expected 16`);
  });
});

test('featureStats matches numpy cov conventions (unbiased) and rejects one sample', () => {
  torch.tidy(() => {
    const s = featureStats(
      torch.tensor([
        [1, 2],
        [3, 6],
        [5, 4],
      ]),
    );
    assert.deepEqual(s.mu.toArray(), [3, 4]);
    assert.deepEqual(s.sigma.toArray(), [4, 2, 2, 4]);
    assert.throws(() => featureStats(torch.ones([1, 4])), /at least 2 samples/);
  });
});

test('a covariance that is not PSD triggers the eps offset instead of a NaN', () => {
  torch.tidy(() => {
    const mu = torch.zeros([3], { dtype: 'float64' });
    const bad = torch.tensor([1, 0, 0, 0, 1, 0, 0, 0, -0.5], { dtype: 'float64', shape: [3, 3] });
    const good = torch.eye(3, { dtype: 'float64' });
    const r = frechetDistance({ mu, sigma: good }, { mu, sigma: bad.matmul(good) });
    assert.ok(Number.isFinite(r.fid));
    assert.equal(r.offsetUsed, true);
  });
});
