// float64 finite-difference gradient checks for every differentiable op the models use.
import { describe, test } from 'node:test';
import type { Tensor } from '../src/torch/index.ts';
import * as torch from '../src/torch/index.ts';
import { gradcheck, gradgradcheck } from './helpers/gradcheck.ts';

const F = torch.F;
// Thousands of tiny ops: intra-op threads only add contention on a shared machine.
torch.setNumThreads(1);
const gen = new torch.Generator(1234);
const randn = (...shape: number[]) => torch.keep(torch.randn(shape, { dtype: 'float64', generator: gen }));
/** Uniform in [lo, hi): for ops defined only on part of the line (log, sqrt, pow). */
const uniform = (lo: number, hi: number, ...shape: number[]) =>
  torch.keep(
    torch
      .rand(shape, { dtype: 'float64', generator: gen })
      .mul(hi - lo)
      .add(lo),
  );
const check = (what: string, fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[]) => gradcheck(fn, inputs, { what });

describe('linear algebra', () => {
  test('linear with and without bias', () => {
    check('linear', (x, wt, b) => F.linear(x, wt, b), [randn(2, 3, 4), randn(5, 4), randn(5)]);
    check('linear (no bias)', (x, wt) => F.linear(x, wt), [randn(3, 4), randn(2, 4)]);
  });
  test('matmul (batched, broadcast) and bmm', () => {
    check('matmul', (a, b) => a.matmul(b), [randn(2, 3, 4), randn(4, 2)]);
    check('matmul vector', (a, b) => a.matmul(b), [randn(3, 4), randn(4)]);
    check('bmm', (a, b) => F.bmm(a, b), [randn(2, 3, 4), randn(2, 4, 3)]);
  });
});

describe('convolution', () => {
  test('conv2d plain, with stride and padding, grouped', () => {
    check('conv2d', (x, wt, b) => F.conv2d(x, wt, b), [randn(1, 2, 4, 4), randn(3, 2, 3, 3), randn(3)]);
    check('conv2d stride 2 padding 1', (x, wt, b) => F.conv2d(x, wt, b, { stride: 2, padding: 1 }), [
      randn(2, 2, 5, 5),
      randn(2, 2, 3, 3),
      randn(2),
    ]);
    check('conv2d groups 2', (x, wt) => F.conv2d(x, wt, null, { groups: 2, padding: 1 }), [randn(1, 4, 3, 3), randn(4, 2, 3, 3)]);
  });
  test('upsampleNearest and pad', () => {
    check('upsampleNearest', (x) => F.upsampleNearest(x, 2), [randn(1, 2, 2, 3)]);
    check('pad', (x) => F.pad(x, [1, 2, 0, 1], 0.5), [randn(1, 2, 2, 3)]);
  });
});

describe('normalisation', () => {
  test('layerNorm (affine and not)', () => {
    check('layerNorm', (x, wt, b) => F.layerNorm(x, [4], wt, b), [randn(3, 4), randn(4), randn(4)]);
    check('layerNorm plain', (x) => F.layerNorm(x, [2, 3], null, null, 1e-6), [randn(2, 2, 3)]);
  });
  test('groupNorm', () => {
    check('groupNorm', (x, wt, b) => F.groupNorm(x, 2, wt, b), [randn(2, 4, 2, 2), randn(4), randn(4)]);
  });
  test('rmsNorm', () => {
    check('rmsNorm', (x, wt) => F.rmsNorm(x, [5], wt), [randn(3, 5), randn(5)]);
  });
});

describe('attention', () => {
  const qkv = () => [randn(1, 2, 3, 4), randn(1, 2, 5, 4), randn(1, 2, 5, 4)];
  test('sdpa plain', () => {
    check('sdpa', (q, k, v) => F.scaledDotProductAttention(q, k, v), qkv());
  });
  test('sdpa causal', () => {
    const [q, k, v] = [randn(1, 2, 4, 4), randn(1, 2, 4, 4), randn(1, 2, 4, 4)];
    check('sdpa causal', (a, b, c) => F.scaledDotProductAttention(a, b, c, { isCausal: true }), [q, k, v]);
  });
  test('sdpa with a boolean mask', () => {
    // every query keeps at least one key (a fully masked row is NaN by definition)
    const mask = torch.keep(
      torch.tensor(
        [
          [1, 0, 1, 0, 1],
          [0, 1, 1, 0, 0],
          [1, 1, 1, 1, 0],
        ],
        { dtype: 'bool' },
      ),
    );
    check('sdpa masked', (q, k, v) => F.scaledDotProductAttention(q, k, v, { mask }), qkv());
  });
});

describe('activations and pointwise', () => {
  test('softmax, logSoftmax', () => {
    check('softmax', (x) => x.softmax(-1), [randn(3, 4)]);
    check('logSoftmax', (x) => x.logSoftmax(1), [randn(2, 3, 2)]);
  });
  test('gelu exact and tanh, silu, sigmoid, tanh', () => {
    check('gelu', (x) => F.gelu(x), [randn(7)]);
    check('gelu tanh', (x) => F.gelu(x, 'tanh'), [randn(7)]);
    check('silu', (x) => F.silu(x), [randn(7)]);
    check('sigmoid', (x) => x.sigmoid(), [randn(7)]);
    check('tanh', (x) => x.tanh(), [randn(7)]);
  });
  test('exp, log, sqrt, rsqrt, pow', () => {
    check('exp', (x) => x.exp(), [randn(6)]);
    check('log', (x) => x.log(), [uniform(0.5, 2, 6)]);
    check('sqrt', (x) => x.sqrt(), [uniform(0.5, 2, 6)]);
    check('rsqrt', (x) => x.rsqrt(), [uniform(0.5, 2, 6)]);
    check('pow scalar', (x) => x.pow(3), [randn(6)]);
    check('pow tensor', (x, y) => x.pow(y), [uniform(0.5, 2, 6), randn(6)]);
  });
  test('arithmetic with broadcasting', () => {
    check('add/mul/div/sub', (a, b) => a.add(b).mul(a).div(b.add(3)).sub(b), [randn(2, 3), uniform(0, 1, 3)]);
  });
});

describe('losses', () => {
  test('crossEntropy (mean, sum, label smoothing, ignore index)', () => {
    const target = torch.keep(torch.tensor([2, 0, 1, 2], { dtype: 'int64' }));
    check('crossEntropy', (x) => F.crossEntropy(x, target), [randn(4, 3)]);
    check('crossEntropy sum smoothing', (x) => F.crossEntropy(x, target, { reduction: 'sum', labelSmoothing: 0.1 }), [
      randn(4, 3),
    ]);
    const withIgnored = torch.keep(torch.tensor([2, -100, 1, 0], { dtype: 'int64' }));
    check('crossEntropy ignore', (x) => F.crossEntropy(x, withIgnored), [randn(4, 3)]);
  });
  test('mseLoss, l1Loss', () => {
    check('mseLoss', (a, b) => F.mseLoss(a, b), [randn(3, 2), randn(3, 2)]);
    // |a - b| is smooth away from a = b: keep the two apart
    check('l1Loss', (a, b) => F.l1Loss(a, b, 'sum'), [uniform(1, 2, 5), uniform(-1, 0, 5)]);
  });
});

describe('indexing, joining, reductions', () => {
  test('embedding, gather, indexSelect', () => {
    const ids = torch.keep(torch.tensor([[0, 2, 2, 1]], { dtype: 'int64' }));
    check('embedding', (wt) => F.embedding(wt, ids), [randn(3, 4)]);
    const idx = torch.keep(
      torch.tensor(
        [
          [0, 0],
          [2, 1],
        ],
        { dtype: 'int64' },
      ),
    );
    check('gather', (x) => x.gather(1, idx), [randn(2, 3)]);
    const sel = torch.keep(torch.tensor([1, 1, 0], { dtype: 'int64' }));
    check('indexSelect', (x) => x.indexSelect(0, sel), [randn(2, 3)]);
  });
  test('cat, stack', () => {
    check('cat', (a, b) => torch.cat([a, b], 1), [randn(2, 1), randn(2, 3)]);
    check('stack', (a, b) => torch.stack([a, b], 1), [randn(2, 3), randn(2, 3)]);
  });
  test('sum, mean, var', () => {
    check('sum', (x) => x.sum(), [randn(2, 3)]);
    check('sum dim', (x) => x.sum(1, true), [randn(2, 3)]);
    check('mean', (x) => x.mean([0, 2]), [randn(2, 3, 2)]);
    check('var', (x) => x.var(1), [randn(2, 4)]);
    check('var unbiased=false', (x) => x.var(undefined, { correction: 0 }), [randn(5)]);
  });
  test('where, maskedFill', () => {
    const cond = torch.keep(torch.tensor([true, false, true, false], { dtype: 'bool' }));
    check('where', (a, b) => torch.where(cond, a, b), [randn(4), randn(4)]);
    check('where scalar', (a) => torch.where(cond, a, 0.5), [randn(2, 4)]);
    check('maskedFill', (a) => a.maskedFill(cond, -1), [randn(3, 4)]);
  });
  test('views: reshape, permute, slice, expand', () => {
    check('views', (x) => x.reshape(3, 2).permute(1, 0).slice(1, 1, 3).unsqueeze(0).expand(2, 2, 2), [randn(2, 3)]);
  });
});

describe('second order', () => {
  test('double backward through torch.grad({createGraph: true}): tanh, gelu, softmax, linear', () => {
    gradgradcheck((x) => x.tanh(), [randn(5)], { what: 'tanh' });
    gradgradcheck((x) => F.gelu(x), [randn(5)], { what: 'gelu' });
    gradgradcheck((x) => x.softmax(-1), [randn(2, 3)], { what: 'softmax' });
    gradgradcheck((x, wt) => F.linear(x, wt).tanh(), [randn(2, 3), randn(2, 3)], { what: 'linear.tanh' });
  });
});

describe('the checker itself', () => {
  test('a wrong gradient is caught', async () => {
    const { throws } = await import('node:assert/strict');
    // x * detach(x) has gradient x, not 2x: the finite differences see 2x
    throws(() => gradcheck((x) => x.mul(x.detach()), [randn(4)], { what: 'bad' }), /autograd .* vs finite difference/);
  });
});
