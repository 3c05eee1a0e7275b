import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as torch from '../src/torch/index.ts';

test('matmul of small matrices', () => {
  const a = torch.tensor([
    [1, 2],
    [3, 4],
  ]);
  assert.deepEqual(a.matmul(a).toArray(), [7, 10, 15, 22]);
});

test('a libtorch error names the op and the argument shapes', () => {
  assert.throws(() => torch.ones([2, 3]).matmul(torch.ones([2, 3])), /aten::matmul: .*2x3.*Tensor\[2, 3\] Float/);
});
