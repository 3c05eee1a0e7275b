// `d2c demo` (`npm run demo`): one image per class from each shipped model, the stage-1 coarse row
// above the final row, in one picture (out/demo.png), with the time taken.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { saveImageGrid } from '../../data/png.ts';
import type { Tensor } from '../../torch/index.ts';
import * as torch from '../../torch/index.ts';
import { collect } from '../config_args.ts';
import { type DeviceFlags, type PrecisionFlags, samplingDeviceOptions } from '../device_options.ts';
import { intOption, positiveInt } from '../options.ts';
import { progressBar } from '../progress.ts';
import { generateOptions, loadModel, previewRows, type SamplingFlags, samplingOptions } from './sample.ts';

/** The models the demo samples when given none: the colour model above the Fashion-MNIST one. */
export const DEMO_MODELS = ['d2c-emoji', 'd2c-fmnist'];

type DemoFlags = SamplingFlags &
  DeviceFlags &
  PrecisionFlags & { model: string[]; out: string; perClass: number; seed: number; threads: number };

export function register(program: Command): void {
  samplingDeviceOptions(
    samplingOptions(
      program
        .command('demo')
        .description('sample every class of the shipped models into out/demo.png (coarse and final rows)')
        .option('--model <dir>', `D2C model folder (repeatable; default ${DEMO_MODELS.join(', ')})`, collect, [])
        .option('--out <file>', 'PNG to write', 'out/demo.png')
        .option('--per-class <n>', 'images per class', positiveInt('--per-class'), 1)
        .option('--seed <n>', 'seed', intOption('--seed', { min: 0 }), 0)
        .option('--threads <n>', 'intra-op threads', positiveInt('--threads'), 2),
    ),
  ).action(async (o: DemoFlags) => {
    torch.setNumThreads(o.threads);
    const models = o.model.length > 0 ? o.model : DEMO_MODELS;
    const blocks: { grid: Tensor; width: number; text: string }[] = [];
    for (const name of models) blocks.push(sampleModel(name, o));
    const grid = stackBlocks(blocks);
    mkdirSync(dirname(o.out), { recursive: true });
    await saveImageGrid(grid, o.out, { nrow: Math.max(...blocks.map((b) => b.width)) });
    torch.dispose([grid, ...blocks.map((b) => b.grid)]);
    process.stdout.write(`${o.out}:\n${blocks.map((b) => b.text).join('\n')}\n`);
  });
}

/** One model's rows (coarse above final when it has a stage 1), `width` images wide. */
function sampleModel(name: string, o: DemoFlags): { grid: Tensor; width: number; text: string } {
  const t0 = performance.now();
  const m = loadModel(name, o);
  const K = m.classes.length;
  const classes = Array.from({ length: K * o.perClass }, (_, i) => i % K);
  const bar = progressBar(`demo ${name}`);
  const t1 = performance.now();
  const r = m.generate(generateOptions(o, classes, o.seed), (p) => bar.update(p.step, p.total, p.stage));
  bar.done();
  const grid = r.preview ? previewRows(r.preview, r.images, K) : r.images.clone();
  torch.dispose(r);
  const t2 = performance.now();
  const rows = r.preview ? 'coarse row above final row' : 'MAR-only: no coarse row';
  const text =
    `  ${name}: ${classes.length} images (${m.classes.join(', ')}), ${rows}; ` +
    `${((t2 - t0) / 1000).toFixed(1)} s (load ${((t1 - t0) / 1000).toFixed(1)} s, sampling ${((t2 - t1) / 1000).toFixed(1)} s)`;
  return { grid, width: K, text };
}

/**
 * The models' rows in one grid `max width` images wide: grayscale repeated to RGB when any model
 * is in colour, short rows filled with white.
 */
export function stackBlocks(blocks: { grid: Tensor; width: number }[]): Tensor {
  return torch.tidy(() => {
    const width = Math.max(...blocks.map((b) => b.width));
    const channels = Math.max(...blocks.map((b) => b.grid.shape[1]));
    const parts = blocks.map(({ grid, width: k }) => {
      const [n, c, h, w] = grid.shape;
      const rgb = c === channels ? grid : grid.repeat(1, channels / c, 1, 1);
      const rows = rgb.reshape(n / k, k, channels, h, w);
      if (k === width) return rgb;
      const white = torch.ones([n / k, width - k, channels, h, w]);
      return torch.cat([rows, white], 1).reshape(-1, channels, h, w);
    });
    return torch.cat(parts, 0);
  });
}
