// torch.F values against hand-computed / closed-form results: linear, conv2d, attention, losses, norms.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as torch from '../src/torch/index.ts';
import { assertClose, assertShape } from './helpers/close.ts';

const F = torch.F;
const t = torch.tensor;
const i64 = (data: Parameters<typeof torch.tensor>[0]) => torch.tensor(data, { dtype: 'int64' });

describe('nn functional', () => {
  test('linear: x W^T + b', () => {
    const y = F.linear(
      t([[1, 2]]),
      t([
        [1, 0],
        [1, 1],
        [0, 2],
      ]),
      t([0.5, 0, -1]),
    );
    assert.deepEqual(y.toArray(), [1.5, 3, 3]);
  });
  test('conv2d on a 3x3 input: sums, stride, padding, groups', () => {
    const x = torch.arange(9, undefined, 1, { dtype: 'float32' }).view(1, 1, 3, 3);
    const ones = torch.ones([1, 1, 2, 2]);
    // 2x2 window sums of [[0,1,2],[3,4,5],[6,7,8]]
    assert.deepEqual(F.conv2d(x, ones).toArray(), [8, 12, 20, 24]);
    assert.deepEqual(F.conv2d(x, ones, t([1])).toArray(), [9, 13, 21, 25]);
    assert.deepEqual(F.conv2d(x, ones, null, { stride: 2, padding: 1 }).toArray(), [0, 3, 9, 24]);
    // groups 2: each output channel sees only its own input channel
    const x2 = torch.cat([x, x.mul(10)], 1);
    const y = F.conv2d(x2, torch.ones([2, 1, 3, 3]), null, { groups: 2 });
    assert.deepEqual(y.toArray(), [36, 360]);
  });
  test('sdpa equals softmax(QK^T / sqrt(d)) V, also causal and with a bool mask', () => {
    const g = new torch.Generator(7);
    const [q, k, v] = [0, 1, 2].map(() => torch.randn([2, 3, 4, 8], { generator: g, dtype: 'float64' }));
    const explicit = (bias: torch.Tensor | null) => {
      let s = q.matmul(k.transpose(-2, -1)).div(Math.sqrt(8)); // [B, H, L, L]
      if (bias) s = s.maskedFill(bias.logicalNot(), Number.NEGATIVE_INFINITY);
      return s.softmax(-1).matmul(v);
    };
    assertClose(F.scaledDotProductAttention(q, k, v), explicit(null), { atol: 1e-12 });
    const causal = torch.callOp<torch.Tensor>('aten::tril', torch.ones([4, 4], { dtype: 'bool' }), 0);
    assertClose(F.scaledDotProductAttention(q, k, v, { isCausal: true }), explicit(causal), { atol: 1e-12 });
    const mask = torch.tensor(
      [
        [1, 0, 1, 1],
        [0, 1, 0, 0],
        [1, 1, 1, 1],
        [0, 0, 0, 1],
      ],
      { dtype: 'bool' },
    );
    assertClose(F.scaledDotProductAttention(q, k, v, { mask }), explicit(mask), { atol: 1e-12 });
    assertClose(
      F.scaledDotProductAttention(q, k, v, { scale: 0.5 }),
      q.matmul(k.transpose(-2, -1)).mul(0.5).softmax(-1).matmul(v),
      {
        atol: 1e-12,
      },
    );
  });
  test('crossEntropy equals -log softmax at the target', () => {
    const logits = t(
      [
        [1, 2, 3],
        [0, 0, 0],
      ],
      { dtype: 'float64' },
    );
    const lse0 = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3));
    const l0 = lse0 - 1; // target 0
    const l1 = Math.log(3); // uniform logits
    const target = i64([0, 2]);
    assertClose(F.crossEntropy(logits, target), [(l0 + l1) / 2], { rtol: 1e-12 });
    assertClose(F.crossEntropy(logits, target, { reduction: 'none' }), [l0, l1], { rtol: 1e-12 });
    assertClose(F.crossEntropy(logits, i64([0, -100])), [l0], { rtol: 1e-12 });
    // label smoothing eps: (1-eps) * nll + eps * mean_c(-log p_c)
    const eps = 0.1;
    const meanNll0 = (3 * lse0 - 6) / 3;
    assertClose(
      F.crossEntropy(logits, target, { labelSmoothing: eps, reduction: 'sum' }),
      [(1 - eps) * l0 + eps * meanNll0 + l1],
      {
        rtol: 1e-12,
      },
    );
  });
  test('mseLoss and l1Loss', () => {
    assertClose(F.mseLoss(t([1, 2, 3]), t([1, 0, 0])), [13 / 3]);
    assertClose(F.mseLoss(t([1, 2, 3]), t([1, 0, 0]), 'sum'), [13]);
    assertClose(F.l1Loss(t([1, 2, 3]), t([1, 0, 0])), [5 / 3]);
  });
  test('layerNorm, groupNorm, rmsNorm by hand', () => {
    const x = t([[1, 2, 3, 6]], { dtype: 'float64' }); // mean 3, biased var 3.5
    const ln = [1, 2, 3, 6].map((v) => (v - 3) / Math.sqrt(3.5 + 1e-5));
    assertClose(F.layerNorm(x, [4]), ln, { rtol: 1e-10 });
    assertClose(F.layerNorm(x, [4], t([1, 1, 2, 2], { dtype: 'float64' }), t([0, 1, 0, 1], { dtype: 'float64' })), [
      ln[0],
      ln[1] + 1,
      2 * ln[2],
      2 * ln[3] + 1,
    ]);
    // groupNorm with 2 groups of 2 channels on [1, 4, 1, 1]: groups {1,2}, {3,6}
    const g = F.groupNorm(x.view(1, 4, 1, 1), 2, null, null, 0);
    assertClose(g, [-1, 1, -1, 1], { rtol: 1e-10 });
    const ms = (1 + 4 + 9 + 36) / 4;
    assertClose(
      F.rmsNorm(x, [4], null, 1e-6),
      [1, 2, 3, 6].map((v) => v / Math.sqrt(ms + 1e-6)),
      { rtol: 1e-10 },
    );
    assertClose(
      F.rmsNorm(x, [4], t([2, 2, 2, 2], { dtype: 'float64' }), 1e-6),
      [1, 2, 3, 6].map((v) => (2 * v) / Math.sqrt(ms + 1e-6)),
      {
        rtol: 1e-10,
      },
    );
  });
  test('upsampleNearest, pad, avgPool2d', () => {
    const x = t([[[[1, 2]]]]);
    assert.deepEqual(F.upsampleNearest(x, 2).toArray(), [1, 1, 2, 2, 1, 1, 2, 2]);
    assert.deepEqual(F.pad(x, [1, 0], 9).toArray(), [9, 1, 2]);
    assertShape(F.pad(x, [0, 0, 1, 1]), [1, 1, 3, 2]);
    assert.deepEqual(
      F.avgPool2d(
        t([
          [
            [
              [1, 2],
              [3, 6],
            ],
          ],
        ]),
        2,
      ).toArray(),
      [3],
    );
  });
});
