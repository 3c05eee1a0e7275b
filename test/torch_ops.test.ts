// Op values against hand-computed / closed-form results.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as torch from '../src/torch/index.ts';
import { native } from '../src/torch/native.ts';
import { op } from '../src/torch/ops.ts';
import { assertClose, assertShape } from './helpers/close.ts';

const F = torch.F;
const t = torch.tensor;
const i64 = (data: Parameters<typeof torch.tensor>[0]) => torch.tensor(data, { dtype: 'int64' });

describe('arithmetic and broadcasting', () => {
  // add/sub/mul/div run an unboxed fast path (native/fast_ops.cc): it must read arguments exactly as
  // the boxed path does, and leave anything else to it.
  test('the arithmetic fast path: integral scalars keep integer dtypes, alpha, autograd, and the boxed errors', () => {
    const n = i64([1, 2, 3]);
    assert.equal(n.add(1).dtype, 'int64', 'an integral JS number is an int Scalar, as in Python');
    assert.equal(n.mul(2).dtype, 'int64');
    assert.equal(n.add(1.5).dtype, 'float32', 'a fractional one promotes');
    assert.equal(n.div(2).dtype, 'float32', 'true division');
    assert.deepEqual(n.sub(1, 2).toArray(), [-1, 0, 1], 'scalar alpha');
    assert.deepEqual(t([1, 2]).add(1, 0.5).toArray(), [1.5, 2.5]);
    const x = t([1, 2]).requiresGrad_();
    x.mul(x).add(x, 3).sub(x.div(2)).sum().backward();
    assertClose(x.grad as torch.Tensor, [2 * 1 + 3 - 0.5, 2 * 2 + 3 - 0.5]);
    const gone = t([1]);
    const h = gone.h;
    gone.dispose();
    assert.throws(() => native.call(op('aten::add.Tensor'), t([1]).h, h), /add\.Tensor: .*dispose/);
    assert.throws(
      () => torch.callOp('aten::mul.Tensor', t([1, 2]), t([1, 2, 3])),
      /mul\.Tensor: .*size of tensor a \(2\) must match/,
    );
  });

  test('the shared small-integer operands: saved for backward, reused across dtypes and devices, never changed', () => {
    // x * 2 saves the wrapped 2 for the gradient; the same cached 2 then serves int and float ops
    const x = t([1, 2]).requiresGrad_();
    const y = x.mul(2);
    assert.deepEqual(i64([3]).mul(2).toArray(), [6]);
    assert.deepEqual(t([0.5]).mul(2).add(-2).toArray(), [-1]);
    y.sum().backward();
    assert.deepEqual((x.grad as torch.Tensor).toArray(), [2, 2]);
    for (let v = -9; v <= 9; v++) assert.deepEqual(i64([10]).add(v).toArray(), [10 + v], `x + ${v}`);
    assert.equal(i64([7]).mul(-8).dtype, 'int64');
    assert.equal(torch.tensor([1], { dtype: 'float16' }).add(1).dtype, 'float16', 'a wrapped number never promotes');
  });

  test('add/sub/mul/div broadcast [2,1] with [3]', () => {
    const a = t([[1], [2]]);
    const b = t([10, 20, 30]);
    assertShape(a.add(b), [2, 3]);
    assert.deepEqual(a.add(b).toArray(), [11, 21, 31, 12, 22, 32]);
    assert.deepEqual(a.sub(b).toArray(), [-9, -19, -29, -8, -18, -28]);
    assert.deepEqual(a.mul(b).toArray(), [10, 20, 30, 20, 40, 60]);
    assertClose(b.div(a), [10, 20, 30, 5, 10, 15]);
    assert.deepEqual(a.add(b, 2).toArray(), [21, 41, 61, 22, 42, 62], 'alpha scales the other operand');
    assert.deepEqual(b.add(1).mul(2).sub(2).div(2).toArray(), [10, 20, 30]);
    assert.deepEqual(b.rsub(100).toArray(), [90, 80, 70]);
  });
  test('pow, matmul, neg, abs, clamp, maximum', () => {
    assert.deepEqual(t([1, 2, 3]).pow(2).toArray(), [1, 4, 9]);
    assert.deepEqual(
      t([2, 2])
        .pow(t([3, 0.5]))
        .toArray()
        .map((x) => +x.toFixed(6)),
      [8, +Math.SQRT2.toFixed(6)],
    );
    const a = t([
      [1, 2],
      [3, 4],
    ]);
    assert.deepEqual(a.matmul(a).toArray(), [7, 10, 15, 22]);
    assert.deepEqual(a.matmul(t([1, -1])).toArray(), [-1, -1]);
    assertShape(torch.ones([5, 2, 3]).matmul(torch.ones([3, 4])), [5, 2, 4]);
    assert.deepEqual(t([-1, 2]).neg().toArray(), [1, -2]);
    assert.deepEqual(t([-1, 2]).abs().toArray(), [1, 2]);
    assert.deepEqual(t([-2, 0.5, 3]).clamp(-1, 1).toArray(), [-1, 0.5, 1]);
    assert.deepEqual(t([-2, 0.5, 3]).clamp(0).toArray(), [0, 0.5, 3]);
    assert.deepEqual(
      t([1, 5])
        .maximum(t([3, 2]))
        .toArray(),
      [3, 5],
    );
  });
  test('pointwise math matches Math.*', () => {
    const xs = [0.25, 1, 2.5];
    const x = t(xs, { dtype: 'float64' });
    assertClose(x.exp(), xs.map(Math.exp), { rtol: 1e-12 });
    assertClose(x.log(), xs.map(Math.log), { rtol: 1e-12 });
    assertClose(x.sqrt(), xs.map(Math.sqrt), { rtol: 1e-12 });
    assertClose(
      x.rsqrt(),
      xs.map((v) => 1 / Math.sqrt(v)),
      { rtol: 1e-12 },
    );
    assertClose(x.tanh(), xs.map(Math.tanh), { rtol: 1e-12 });
    assertClose(
      x.sigmoid(),
      xs.map((v) => 1 / (1 + Math.exp(-v))),
      { rtol: 1e-12 },
    );
    assertClose(
      F.silu(x),
      xs.map((v) => v / (1 + Math.exp(-v))),
      { rtol: 1e-12 },
    );
    assertClose(t([-1, 0, 2]).relu(), [0, 0, 2]);
    // gelu(x) = x Phi(x); Phi(1) = 0.8413447460685429; tanh form differs slightly
    assertClose(F.gelu(t([1], { dtype: 'float64' })), [0.8413447460685429], { rtol: 1e-12 });
    const c = Math.sqrt(2 / Math.PI);
    assertClose(F.gelu(t([1], { dtype: 'float64' }), 'tanh'), [0.5 * (1 + Math.tanh(c * (1 + 0.044715)))], { rtol: 1e-12 });
  });
});

describe('reductions', () => {
  const x = t([
    [1, 2, 3],
    [4, 5, 9],
  ]);
  test('sum, mean, var, std, amax, max, argmax, norm, cumsum', () => {
    assert.equal(x.sum().item(), 24);
    assert.deepEqual(x.sum(0).toArray(), [5, 7, 12]);
    assertShape(x.sum(1, true), [2, 1]);
    assert.deepEqual(x.mean(1).toArray(), [2, 6]);
    assert.equal(x.mean([0, 1]).item(), 4);
    // row 2: mean 6, squared deviations 4+1+9 = 14; unbiased 7, biased 14/3
    assertClose(x.var(1), [1, 7]);
    assertClose(x.var(1, { correction: 0 }), [2 / 3, 14 / 3]);
    assertClose(x.std(1), [1, Math.sqrt(7)]);
    assert.deepEqual(x.amax(1).toArray(), [3, 9]);
    assert.deepEqual(x.amin(0).toArray(), [1, 2, 3]);
    assert.equal(x.max().item(), 9);
    assert.equal(x.min().item(), 1);
    assert.deepEqual(x.argmax(1).toArray(), [2, 2]);
    assert.equal(x.argmax().item(), 5);
    assertClose(t([3, 4]).norm(), [5]);
    assertClose(x.norm(1, 1), [6, 18]);
    assert.deepEqual(x.cumsum(1).toArray(), [1, 3, 6, 4, 9, 18]);
    assertClose(F.logsumexp(t([0, Math.log(3)]), 0), [Math.log(4)]);
  });
  test('softmax and logSoftmax', () => {
    const z = t([[0, Math.log(2), Math.log(5)]]);
    assertClose(z.softmax(-1), [1 / 8, 2 / 8, 5 / 8]);
    assertClose(z.logSoftmax(1), [Math.log(1 / 8), Math.log(2 / 8), Math.log(5 / 8)], { atol: 1e-6 });
    // softmax is shift invariant and stable for large logits
    assertClose(t([1000, 1000]).softmax(0), [0.5, 0.5]);
  });
});

describe('views and shapes', () => {
  const x = torch.arange(6);
  test('view, reshape, permute, transpose, unsqueeze, squeeze, expand, repeat, flip', () => {
    const m = x.view(2, 3);
    assertShape(m, [2, 3]);
    assert.deepEqual(m.transpose(0, 1).contiguous().toArray(), [0, 3, 1, 4, 2, 5]);
    assert.equal(m.transpose(0, 1).isContiguous(), false);
    assert.deepEqual(m.t().strides, [1, 3]);
    assert.deepEqual(x.reshape(3, 2).permute(1, 0).toArray(), [0, 2, 4, 1, 3, 5]);
    assertShape(x.view(2, 3).unsqueeze(1), [2, 1, 3]);
    assertShape(x.view(1, 6, 1).squeeze(), [6]);
    assertShape(x.view(1, 6, 1).squeeze(0), [6, 1]);
    assert.deepEqual(t([1, 2]).unsqueeze(1).expand(2, 3).toArray(), [1, 1, 1, 2, 2, 2]);
    assert.deepEqual(t([1, 2]).repeat(2).toArray(), [1, 2, 1, 2]);
    assert.deepEqual(t([1, 2]).repeatInterleave(2, 0).toArray(), [1, 1, 2, 2]);
    assert.deepEqual(m.flip(1).toArray(), [2, 1, 0, 5, 4, 3]);
    assert.deepEqual(x.view(2, 3).flatten().toArray(), [0, 1, 2, 3, 4, 5]);
  });
  test('a view shares storage; clone does not', () => {
    const a = torch.zeros([4]);
    const v = a.view(2, 2);
    const c = a.clone();
    v.add_(1);
    assert.deepEqual(a.toArray(), [1, 1, 1, 1]);
    assert.deepEqual(c.toArray(), [0, 0, 0, 0]);
  });
  test('slice, narrow, select, chunk, split, unbind', () => {
    const m = x.view(2, 3);
    assert.deepEqual(x.slice(0, 1, 5, 2).toArray(), [1, 3]);
    assert.deepEqual(x.slice(0, -2, null).toArray(), [4, 5]);
    assert.deepEqual(m.narrow(1, 1, 2).toArray(), [1, 2, 4, 5]);
    assert.deepEqual(m.select(1, 0).toArray(), [0, 3]);
    assert.deepEqual(
      x.chunk(3).map((c) => c.toArray()),
      [
        [0, 1],
        [2, 3],
        [4, 5],
      ],
    );
    assert.deepEqual(
      x.split([1, 5]).map((c) => c.shape),
      [[1], [5]],
    );
    assert.deepEqual(
      x.split(4).map((c) => c.toArray()),
      [
        [0, 1, 2, 3],
        [4, 5],
      ],
    );
    assert.deepEqual(
      m.unbind(1).map((c) => c.toArray()),
      [
        [0, 3],
        [1, 4],
        [2, 5],
      ],
    );
  });
  test('cat and stack', () => {
    const a = t([[1, 2]]);
    const b = t([[3, 4]]);
    assert.deepEqual(torch.cat([a, b], 0).toArray(), [1, 2, 3, 4]);
    assertShape(torch.cat([a, b], 1), [1, 4]);
    assertShape(torch.stack([a, b], 0), [2, 1, 2]);
    assert.deepEqual(torch.stack([a, b], 2).toArray(), [1, 3, 2, 4]);
  });
});

describe('indexing', () => {
  const m = t([
    [10, 11, 12],
    [20, 21, 22],
  ]);
  test('index, indexSelect, gather, scatter, scatterAdd', () => {
    assert.deepEqual(m.index([i64([1, 0, 1])]).toArray(), [20, 21, 22, 10, 11, 12, 20, 21, 22]);
    assert.deepEqual(m.index([null, i64([2, 0])]).toArray(), [12, 10, 22, 20]);
    assert.deepEqual(m.index([i64([0, 1]), i64([2, 1])]).toArray(), [12, 21]);
    assert.deepEqual(m.index([t([true, false], { dtype: 'bool' })]).toArray(), [10, 11, 12]);
    assert.deepEqual(m.indexSelect(1, i64([2, 2])).toArray(), [12, 12, 22, 22]);
    assert.deepEqual(m.gather(1, i64([[1], [0]])).toArray(), [11, 20]);
    assert.deepEqual(
      torch
        .zeros([2, 3])
        .scatter(1, i64([[2], [0]]), 7)
        .toArray(),
      [0, 0, 7, 7, 0, 0],
    );
    assert.deepEqual(
      torch
        .zeros([2, 3])
        .scatter(1, i64([[2], [0]]), t([[5], [6]]))
        .toArray(),
      [0, 0, 5, 6, 0, 0],
    );
    assert.deepEqual(
      torch
        .zeros([4])
        .scatterAdd(0, i64([1, 1, 3]), t([1, 2, 3]))
        .toArray(),
      [0, 3, 0, 3],
    );
  });
  test('topk, sort, argsort', () => {
    const [vals, idx] = t([3, 1, 4, 1, 5]).topk(2);
    assert.deepEqual(vals.toArray(), [5, 4]);
    assert.deepEqual(idx.toArray(), [4, 2]);
    const [sv, si] = t([3, 1, 2]).sort(0, true);
    assert.deepEqual(sv.toArray(), [3, 2, 1]);
    assert.deepEqual(si.toArray(), [0, 2, 1]);
    assert.deepEqual(t([3, 1, 2]).argsort().toArray(), [1, 2, 0]);
  });
  test('embedding looks rows up', () => {
    const wt = t([
      [0, 1],
      [2, 3],
      [4, 5],
    ]);
    const e = F.embedding(wt, i64([[2, 0]]));
    assertShape(e, [1, 2, 2]);
    assert.deepEqual(e.toArray(), [4, 5, 0, 1]);
  });
});

describe('comparisons and selection', () => {
  test('eq/ne/lt/le/gt/ge give bool; logical ops; where; maskedFill', () => {
    const a = t([1, 2, 3]);
    const b = t([3, 2, 1]);
    assert.equal(a.eq(b).dtype, 'bool');
    assert.deepEqual(a.eq(b).toArray(), [0, 1, 0]);
    assert.deepEqual(a.ne(2).toArray(), [1, 0, 1]);
    assert.deepEqual(a.lt(b).toArray(), [1, 0, 0]);
    assert.deepEqual(a.le(2).toArray(), [1, 1, 0]);
    assert.deepEqual(a.gt(b).toArray(), [0, 0, 1]);
    assert.deepEqual(a.ge(2).toArray(), [0, 1, 1]);
    assert.deepEqual(a.lt(3).logicalAnd(a.gt(1)).toArray(), [0, 1, 0]);
    assert.deepEqual(a.lt(2).logicalOr(a.gt(2)).logicalNot().toArray(), [0, 1, 0]);
    assert.deepEqual(torch.where(a.gt(1), a, b).toArray(), [3, 2, 3]);
    assert.deepEqual(torch.where(a.gt(1), 0, b).toArray(), [3, 0, 0]);
    assert.deepEqual(a.maskedFill(a.eq(2), -1).toArray(), [1, -1, 3]);
    assert.deepEqual(t([1, Number.POSITIVE_INFINITY, Number.NaN]).isfinite().toArray(), [1, 0, 0]);
  });
});

describe('factories and random', () => {
  test('zeros/ones/full/arange/linspace/eye', () => {
    assert.deepEqual(torch.zeros([2]).toArray(), [0, 0]);
    assert.deepEqual(torch.full([2], 3.5).toArray(), [3.5, 3.5]);
    assert.equal(torch.arange(3).dtype, 'int64');
    assert.deepEqual(torch.arange(1, 2, 0.25).toArray(), [1, 1.25, 1.5, 1.75]);
    assert.deepEqual(torch.linspace(0, 1, 5).toArray(), [0, 0.25, 0.5, 0.75, 1]);
    assert.deepEqual(torch.eye(2).toArray(), [1, 0, 0, 1]);
    assert.equal(torch.ones([1], { dtype: 'int32' }).dtype, 'int32');
  });
  test('a seeded generator reproduces randn/rand/randint/randperm/multinomial; different seeds differ', () => {
    const draw = (seed: number) => {
      const g = new torch.Generator(seed);
      return [
        torch.randn([5], { generator: g }).toArray(),
        torch.rand([5], { generator: g }).toArray(),
        torch.randint(0, 100, [5], { generator: g }).toArray(),
        torch.randperm(6, { generator: g }).toArray(),
        torch.multinomial(t([0.1, 0.2, 0.7]), 2, false, g).toArray(),
      ];
    };
    assert.deepEqual(draw(42), draw(42));
    assert.notDeepEqual(draw(42)[0], draw(43)[0]);
    // re-seeding and state save/restore replay the stream
    const g = new torch.Generator(1);
    const state = g.getState();
    const first = torch.randn([3], { generator: g }).toArray();
    g.setState(state);
    assert.deepEqual(torch.randn([3], { generator: g }).toArray(), first);
    g.manualSeed(1);
    assert.deepEqual(torch.randn([3], { generator: g }).toArray(), first);
    torch.manualSeed(5);
    const a = torch.randn([3]).toArray();
    torch.manualSeed(5);
    assert.deepEqual(torch.randn([3]).toArray(), a);
  });
  test('random draws have the right range and moments', () => {
    const g = new torch.Generator(3);
    const n = torch.randn([20000], { generator: g, dtype: 'float64' });
    assert.ok(Math.abs(n.mean().item()) < 0.03, `randn mean ${n.mean().item()}`);
    assert.ok(Math.abs(n.std().item() - 1) < 0.03, `randn std ${n.std().item()}`);
    const u = torch.rand([1000], { generator: g });
    assert.ok(u.min().item() >= 0 && u.max().item() < 1);
    const r = torch.randint(3, 7, [1000], { generator: g });
    assert.equal(r.min().item(), 3);
    assert.equal(r.max().item(), 6);
    assert.deepEqual(torch.randperm(10, { generator: g }).sort()[0].toArray(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const b = torch.bernoulli(torch.full([2000], 0.25), g);
    assert.ok(Math.abs(b.mean().item() - 0.25) < 0.04);
    const x = torch.uniform_(torch.empty([500]), -2, -1, g);
    assert.ok(x.min().item() >= -2 && x.max().item() < -1);
  });
});

describe('dtypes and data', () => {
  const all = ['float32', 'float16', 'bfloat16', 'float64', 'int64', 'int32', 'uint8', 'bool'] as const;
  test('conversions between every pair keep small integer values', () => {
    for (const from of all) {
      const x = t([0, 1, 2], { dtype: from === 'bool' ? 'uint8' : from }).to(from);
      assert.equal(x.dtype, from);
      for (const to of all) {
        const y = x.to(to);
        assert.equal(y.dtype, to, `${from} -> ${to}`);
        const expected = from === 'bool' || to === 'bool' ? [0, 1, 1] : [0, 1, 2];
        assert.deepEqual(y.toArray(), expected, `${from} -> ${to}`);
      }
    }
  });
  test('rounding and wrapping follow PyTorch', () => {
    assert.deepEqual(t([1.7, -1.7]).to('int64').toArray(), [1, -1], 'float -> int truncates toward zero');
    assert.deepEqual(t([300, -1], { dtype: 'int32' }).to('uint8').toArray(), [44, 255], 'int -> uint8 wraps');
    assert.deepEqual(
      t([1 / 3])
        .to('float16')
        .toArray(),
      [0.333251953125],
    );
    assert.deepEqual(
      t([1 / 3])
        .to('bfloat16')
        .toArray(),
      [0.333984375],
    );
    assert.equal(t([0.1], { dtype: 'float64' }).item(), 0.1);
    assert.equal(t([0.1]).item(), Math.fround(0.1));
    assert.deepEqual(t([0.5, 0, -2]).to('bool').toArray(), [1, 0, 1]);
  });
  test('item and toArray for every dtype; typed arrays', () => {
    for (const d of all) assert.equal(t([1], { dtype: d }).item(), 1, d);
    assert.equal(t(true, { dtype: 'bool' }).item(), 1);
    const big = t([2 ** 40 + 1], { dtype: 'int64' });
    assert.equal(big.item(), 2 ** 40 + 1);
    assert.deepEqual(big.toArray(), [2 ** 40 + 1]);
    assert.ok(big.toTypedArray() instanceof BigInt64Array);
    assert.ok(t([1], { dtype: 'float16' }).toTypedArray() instanceof Uint16Array);
    assert.deepEqual(Array.from(t([1], { dtype: 'bfloat16' }).toTypedArray() as Uint16Array), [0x3f80]);
    assert.deepEqual(Array.from(t([1], { dtype: 'float16' }).toTypedArray() as Uint16Array), [0x3c00]);
    const f = torch.tensor(new Float32Array([1, 2, 3, 4, 5, 6]), { shape: [2, 3] });
    assertShape(f, [2, 3]);
    assert.deepEqual(Array.from(f.toFloat32Array()), [1, 2, 3, 4, 5, 6]);
    assert.equal(torch.tensor(new Int32Array([1])).dtype, 'int32');
    assert.equal(torch.tensor(new BigInt64Array([5n])).item(), 5);
    // toArray of a non-contiguous view gives logical order
    assert.deepEqual(torch.arange(6).view(2, 3).t().toArray(), [0, 3, 1, 4, 2, 5]);
  });
  test('integer and mixed-type arithmetic promote like PyTorch', () => {
    assert.equal(t([1], { dtype: 'int64' }).add(t([1], { dtype: 'int32' })).dtype, 'int64');
    assert.equal(t([1], { dtype: 'int64' }).mul(0.5).dtype, 'float32');
    assert.equal(t([1], { dtype: 'float16' }).add(t([1])).dtype, 'float32');
    assert.deepEqual(t([7], { dtype: 'int64' }).div(2).toArray(), [3.5], 'true division');
  });
});
