// The Inception Score as torch-fidelity computes it (scripts/fixtures/is_reference.py wrote the
// reference from its algorithm): numpy's RandomState(2020) permutation, then 10 chunks
// [i·N/10, (i+1)·N/10) of unequal size (N = 95); and numpyPermutation bit for bit.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { inceptionScore } from '../src/eval/metrics.ts';
import { numpyPermutation } from '../src/eval/numpy_random.ts';
import * as torch from '../src/torch/index.ts';

interface Ref {
  logits: number[][];
  shape: [number, number];
  shuffled: { mean: number; std: number };
  in_order: { mean: number; std: number };
  permutation_2020_95: number[];
}
const ref = JSON.parse(readFileSync('test/fixtures/eval/is_reference.json', 'utf8')) as Ref;

test('numpyPermutation equals numpy.random.RandomState(2020).permutation', () => {
  assert.deepEqual([...numpyPermutation(95, 2020)], ref.permutation_2020_95);
  assert.throws(() => numpyPermutation(3, -1), /seed must be an integer/);
});

test('inceptionScore matches torch-fidelity (shuffled with seed 2020, and in order), 10 unequal splits', () => {
  torch.tidy(() => {
    const probs = torch.tensor(ref.logits).to('float64').softmax(-1);
    const shuffled = inceptionScore(probs, 10, { shuffleSeed: 2020 });
    assert.ok(Math.abs(shuffled.mean - ref.shuffled.mean) < 1e-9 * ref.shuffled.mean, `mean ${shuffled.mean}`);
    assert.ok(Math.abs(shuffled.std - ref.shuffled.std) < 1e-9, `std ${shuffled.std}`);
    const inOrder = inceptionScore(probs, 10);
    assert.ok(Math.abs(inOrder.mean - ref.in_order.mean) < 1e-9 * ref.in_order.mean, `mean ${inOrder.mean}`);
    assert.ok(Math.abs(inOrder.std - ref.in_order.std) < 1e-9, `std ${inOrder.std}`);
  });
});
