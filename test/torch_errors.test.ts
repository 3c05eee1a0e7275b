// Misuse raises a JS Error that says what went wrong, never a crash (DESIGN: "Errors").
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Tensor } from '../src/torch/index.ts';
import * as torch from '../src/torch/index.ts';

const F = torch.F;
const i64 = (data: number[]) => torch.tensor(data, { dtype: 'int64' });

describe('bad shapes', () => {
  test('matmul, view, cat, conv2d, linear, broadcasting, layerNorm', () => {
    assert.throws(() => torch.ones([2, 3]).matmul(torch.ones([2, 3])), /aten::matmul: .*Tensor\[2, 3\] Float/);
    assert.throws(() => torch.ones([2, 3]).view(4, 2), /aten::view: .*shape '\[4, 2\]' is invalid for input of size 6/);
    assert.throws(() => torch.cat([torch.ones([2, 3]), torch.ones([2, 4])], 0), /aten::cat: .*Sizes of tensors must match/);
    assert.throws(() => F.conv2d(torch.ones([1, 3, 4, 4]), torch.ones([2, 4, 3, 3])), /aten::conv2d: .*channels/);
    assert.throws(() => F.linear(torch.ones([2, 5]), torch.ones([3, 4])), /aten::linear/);
    assert.throws(() => torch.ones([2, 3]).add(torch.ones([4])), /aten::add\.Tensor: .*size of tensor a \(3\) must match/);
    assert.throws(() => F.layerNorm(torch.ones([2, 3]), [4]), /aten::layer_norm/);
    assert.throws(() => torch.stack([torch.ones([2]), torch.ones([3])]), /aten::stack/);
    assert.throws(() => torch.tensor([[1, 2], [3]]), /ragged nested array/);
  });
});

describe('bad dtypes', () => {
  test('mixed-dtype matmul, float indices, unknown dtype names, bad targets', () => {
    assert.throws(() => torch.ones([2, 2]).matmul(torch.ones([2, 2], { dtype: 'float64' })), /aten::matmul: .*(dtype|Double)/);
    assert.throws(() => F.embedding(torch.ones([3, 2]), torch.ones([2])), /aten::embedding: .*(Long|Int)/);
    assert.throws(() => torch.ones([2]).indexSelect(0, torch.ones([1])), /aten::index_select/);
    assert.throws(() => torch.ones([2]).to('float128' as never), /(unknown dtype|float128)/);
    assert.throws(() => torch.zeros([2], { dtype: 'complex128' as never }), /unknown dtype 'complex128'/);
    assert.throws(() => F.crossEntropy(torch.ones([2, 3]), torch.ones([2, 3], { dtype: 'int64' })), /aten::cross_entropy_loss/);
    assert.throws(() => torch.ones([2]).maskedFill(torch.ones([2]), 0), /aten::masked_fill\.Scalar: .*(Bool|bool)/);
  });
});

describe('out-of-range indices', () => {
  test('indexSelect, gather, embedding, index, select, narrow, size, scatter', () => {
    const x = torch.ones([3, 2]);
    assert.throws(() => x.indexSelect(0, i64([5])), /aten::index_select: .*(out of range|index)/);
    assert.throws(() => x.gather(0, i64([3, 0]).view(1, 2)), /aten::gather: .*out of bounds/);
    assert.throws(() => F.embedding(x, i64([3])), /aten::embedding: .*(out of range|index)/);
    assert.throws(() => x.index([i64([-4])]), /aten::index\.Tensor: .*out of bounds/);
    assert.throws(() => x.select(0, 3), /aten::select\.int: .*out of range/);
    assert.throws(() => x.narrow(1, 1, 2), /aten::narrow: .*exceeds dimension size/);
    assert.throws(() => x.sum(2), /aten::sum\.dim_IntList: .*Dimension out of range/);
    assert.throws(() => x.size(2), /size: dim 2 out of range for a 2-d tensor/);
    assert.throws(() => torch.zeros([2]).scatter(0, i64([7]), 1), /aten::scatter\.value: .*out of bounds/);
    assert.throws(() => F.crossEntropy(torch.ones([2, 3]), i64([0, 3])), /aten::cross_entropy_loss: .*(out of bounds|Target 3)/);
  });
});

describe('bad buffers, sizes and autograd state', () => {
  test('short buffers, bad sizes, huge allocations, multi-element item', () => {
    assert.throws(() => torch.tensor(new Float32Array(3), { shape: [2, 2] }), /needs 16 bytes, got 12/);
    assert.throws(() => torch.fromBuffer(new Uint8Array(3), [4], 'float32'), /needs 16 bytes, got 3/);
    assert.throws(() => torch.zeros([-1, 2]), /aten::zeros: .*non-negative/);
    assert.throws(() => torch.zeros([2.5]), /must be an integer, got 2\.5/);
    assert.throws(() => torch.empty([1e12, 1e6]), /aten::empty\.memory_format: .*allocate/);
    assert.throws(() => torch.ones([3]).item(), /3 elements cannot be converted to a number/);
    assert.throws(() => torch.ones([2, 3]).t().view(6), /aten::view: .*Use \.reshape/);
    assert.throws(() => torch.cat([]), /aten::cat: .*non-empty list/);
    assert.throws(() => new torch.Generator(0).setState(torch.ones([3])), /ByteTensor/);
  });
  test('second backward through a freed graph, in-place on a leaf that requires grad', () => {
    const x = torch.ones([2], { requiresGrad: true });
    const y = x.exp().sum();
    y.backward();
    assert.throws(() => y.backward(), /backward through the graph a second time/);
    assert.throws(() => x.add_(1), /aten::add_\.Scalar: a leaf Variable that requires grad/);
  });
});

describe('use after dispose', () => {
  test('methods, metadata and arguments of a disposed tensor throw', () => {
    const t = torch.ones([2]);
    const other = torch.ones([2]);
    t.dispose();
    assert.equal(t.isDisposed, true);
    assert.throws(() => t.add(1), /tensor used after dispose/);
    assert.throws(() => t.shape, /tensor used after dispose/);
    assert.throws(() => t.toArray(), /tensor used after dispose/);
    assert.throws(() => other.add(t), /tensor used after dispose/);
    assert.throws(() => torch.cat([other, t]), /tensor used after dispose/);
    assert.throws(() => torch.callOp('aten::mul.Tensor', other, t), /tensor used after dispose/);
    assert.equal(String(t), 'Tensor(disposed)');
    t.dispose(); // a second dispose is harmless
  });
  test('a tensor freed by its scope throws when used after the scope', () => {
    let leaked: Tensor | null = null;
    torch.tidy(() => {
      leaked = torch.ones([2]);
      return null;
    });
    assert.throws(() => leaked!.sum(), /tensor used after dispose/);
  });
});

describe('unknown ops and bad arguments', () => {
  test('an unknown op or overload name throws', () => {
    assert.throws(() => torch.callOp('aten::definitely_not_an_op', torch.ones([1])), /definitely_not_an_op/);
    assert.throws(() => torch.callOp('aten::add.NoSuchOverload', torch.ones([1])), /add.*NoSuchOverload|NoSuchOverload/);
    assert.throws(() => torch.schemaOf('nope::x'), /nope::x/);
  });
  test('wrong argument kinds and counts throw', () => {
    assert.throws(() => torch.callOp('aten::add.Tensor', torch.ones([1]), 'two'), /aten::add\.Tensor/);
    assert.throws(() => torch.callOp('aten::sum.dim_IntList', torch.ones([1]), 'x'), /aten::sum\.dim_IntList/);
    assert.throws(() => torch.callOp('aten::neg', torch.ones([1]), 1, 2, 3), /aten::neg/);
    assert.throws(() => torch.callOp('aten::neg'), /aten::neg/);
  });
  test('backward misuse: non-scalar without gradient, no grad_fn', () => {
    const x = torch.ones([2], { requiresGrad: true });
    assert.throws(() => x.mul(2).backward(), /grad can be implicitly created only for scalar outputs/);
    assert.throws(() => torch.ones([]).backward(), /does not require grad/);
  });
  test('the process is still healthy afterwards', () => {
    assert.deepEqual(torch.ones([2]).add(1).toArray(), [2, 2]);
  });
});
