// Does the ImageFolder loader keep up with training? Times `train tokenizer` steps (vq_c32, batch
// 32, one torch thread) on a generated colour ImageFolder (mixed-size PNGs decoded, centre-cropped
// and resized to 32 px in the loader's workers, the next batch while a step runs) against the same
// images decoded once into memory. Rounds alternate so a slow spell of the host lands on both.
//   node --single-threaded-gc --import tsx bench/loader_imagefolder.ts [--images 512] [--steps 15] [--rounds 3]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ArrayImageSet, ImageSet } from '../src/data/dataset.ts';
import { decodeImage, scanImageFolder } from '../src/data/image_folder.ts';
import { resolveConfig } from '../src/pipeline/parts.ts';
import { VQ_TRAIN_DEFAULTS } from '../src/tokenizers/train_step.ts';
import * as torch from '../src/torch/index.ts';
import { tokenizerTask } from '../src/train/tokenizer_task.ts';
import { makeColourFolder } from '../test/helpers/colour_folder.ts';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '512' },
    steps: { type: 'string', default: '15' },
    rounds: { type: 'string', default: '3' },
  },
});
const [images, steps, rounds] = [Number(values.images), Number(values.steps), Number(values.rounds)];
torch.setNumThreads(1);
const root = mkdtempSync(join(tmpdir(), 'd2c-loader-bench-'));
try {
  await makeColourFolder(root, { classes: ['a', 'b', 'c', 'd'], perClass: Math.ceil(images / 4), minSide: 40, maxSide: 96 });
  const files = await scanImageFolder(root, { size: 32, channels: 3 });
  const per = 3 * 32 * 32;
  const pixels = new Uint8Array(files.files.length * per);
  for (const [i, f] of files.files.entries()) pixels.set(await decodeImage(f, 32, 3), i * per);
  const memory: ArrayImageSet = { ...files, kind: 'array', name: 'in-memory', pixels };
  const part = { kind: 'vq' as const, preset: 'vq_c32', config: resolveConfig('vq', 'vq_c32') };
  const recipe = {
    steps,
    batchSize: 32,
    emaDecay: 0.99,
    seed: 0,
    hflip: true,
    train: { ...VQ_TRAIN_DEFAULTS, lr: 6e-4, gan: null },
  };

  /** Mean ms per step over `steps` steps after 2 of warm-up. */
  async function msPerStep(set: ImageSet): Promise<number> {
    const task = await tokenizerTask(set, part, recipe);
    try {
      for (let s = 0; s < 2; s++) await task.step(s);
      const t0 = performance.now();
      for (let s = 0; s < steps; s++) await task.step(s + 2);
      return (performance.now() - t0) / steps;
    } finally {
      await task.close?.();
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const folder: number[] = [];
  const inMemory: number[] = [];
  for (let r = 0; r < rounds; r++) {
    folder.push(await msPerStep(files));
    inMemory.push(await msPerStep(memory));
    process.stderr.write(
      `round ${r + 1}: imagefolder ${folder[r].toFixed(1)} ms/step, in-memory ${inMemory[r].toFixed(1)} ms/step\n`,
    );
  }
  const [f, m] = [median(folder), median(inMemory)];
  process.stdout.write(
    `${JSON.stringify({ images: files.files.length, steps, rounds, imagefolder_ms: +f.toFixed(1), in_memory_ms: +m.toFixed(1), ratio: +(f / m).toFixed(3) })}\n`,
  );
} finally {
  rmSync(root, { recursive: true, force: true });
}
process.exit(0);
