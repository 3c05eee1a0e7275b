// `d2c demo` puts models of different class counts and channels in one picture.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stackBlocks } from '../src/cli/commands/demo.ts';
import * as torch from '../src/torch/index.ts';

test('demo stacks a grayscale and a colour model: RGB, as wide as the widest, short rows white', () => {
  const gray = torch.full([4, 1, 2, 2], -0.5); // 2 rows × 2 classes
  const colour = torch.zeros([6, 3, 2, 2]); // 2 rows × 3 classes
  const grid = stackBlocks([
    { grid: colour, width: 3 },
    { grid: gray, width: 2 },
  ]);
  assert.deepEqual(grid.shape, [12, 3, 2, 2]);
  const v = grid.reshape(4, 3, 12).toTypedArray() as Float32Array;
  const image = (row: number, col: number) => Array.from(v.subarray((row * 3 + col) * 12, (row * 3 + col + 1) * 12));
  assert.deepEqual(image(0, 2), Array(12).fill(0)); // the colour model's own third image
  assert.deepEqual(image(2, 0), Array(12).fill(-0.5)); // gray repeated into three channels
  assert.deepEqual(image(3, 2), Array(12).fill(1)); // the gray model's missing third class: white
  torch.dispose([gray, colour, grid]);
});
