// The sampling bound on x̂₀ (IDDPM's clip_denoised with a bound): off by default, as the reference
// samples, and when on, the sample stays within it even for a denoiser whose ε̂ is useless.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createDiffusion } from '../src/generators/diffusion.ts';
import * as torch from '../src/torch/index.ts';

test('clip bounds the predicted x0 of every step; 0 leaves the reference sampling untouched', () => {
  torch.setNumThreads(1);
  torch.tidy(() => {
    const d = createDiffusion('20');
    const zeroEps = (x: torch.Tensor) => torch.zeros([x.shape[0], 2 * x.shape[1]]); // ε̂ = 0, v = 0
    const noise = torch.randn([64, 4], { generator: new torch.Generator(0) });
    const free = d.pSampleLoop(zeroEps, noise, { generator: new torch.Generator(1) });
    const bounded = d.pSampleLoop(zeroEps, noise, { generator: new torch.Generator(1), clip: 2 });
    assert.ok(free.abs().max().item() > 100, 'without the bound, 1/√ᾱ_T blows x̂₀ up');
    assert.ok(bounded.abs().max().item() <= 2 + 1e-5); // the last step returns x̂₀ itself
    const t = torch.full([64], 19, { dtype: 'int64' });
    const a = d.pMeanVariance(zeroEps, noise, t);
    const b = d.pMeanVariance(zeroEps, noise, t, 0);
    assert.deepEqual(a.mean.toArray(), b.mean.toArray());
  });
});
