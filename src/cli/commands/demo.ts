// `d2c demo` (`npm run demo`): one image per class from the shipped model, the stage-1 coarse
// row above the final row, written to out/demo.png, with the time taken.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { saveImageGrid } from '../../data/png.ts';
import * as torch from '../../torch/index.ts';
import { type DeviceFlags, type PrecisionFlags, samplingDeviceOptions } from '../device_options.ts';
import { intOption, positiveInt } from '../options.ts';
import { progressBar } from '../progress.ts';
import { DEFAULT_MODEL, generateOptions, loadModel, previewRows, type SamplingFlags, samplingOptions } from './sample.ts';

export function register(program: Command): void {
  samplingDeviceOptions(
    samplingOptions(
      program
        .command('demo')
        .description('sample every class of the shipped model into out/demo.png (coarse and final rows)')
        .option('--model <dir>', 'D2C model folder', DEFAULT_MODEL)
        .option('--out <file>', 'PNG to write', 'out/demo.png')
        .option('--per-class <n>', 'images per class', positiveInt('--per-class'), 1)
        .option('--seed <n>', 'seed', intOption('--seed', { min: 0 }), 0)
        .option('--threads <n>', 'intra-op threads', positiveInt('--threads'), 2),
    ),
  ).action(
    async (
      o: SamplingFlags &
        DeviceFlags &
        PrecisionFlags & { model: string; out: string; perClass: number; seed: number; threads: number },
    ) => {
      torch.setNumThreads(o.threads);
      const t0 = performance.now();
      const m = loadModel(o.model, o);
      const K = m.classes.length;
      const classes = Array.from({ length: K * o.perClass }, (_, i) => i % K);
      const bar = progressBar('demo');
      const t1 = performance.now();
      const r = m.generate(generateOptions(o, classes, o.seed), (p) => bar.update(p.step, p.total, p.stage));
      bar.done();
      const grid = r.preview ? previewRows(r.preview, r.images, K) : r.images;
      mkdirSync(dirname(o.out), { recursive: true });
      await saveImageGrid(grid, o.out, { nrow: K });
      torch.dispose([r, grid]);
      const t2 = performance.now();
      process.stdout.write(
        `${o.out}: ${classes.length} images (${m.classes.join(', ')}), ${r.preview ? 'coarse row above final row' : 'MAR-only: no coarse row'}\n` +
          `time: ${((t2 - t0) / 1000).toFixed(1)} s (load ${((t1 - t0) / 1000).toFixed(1)} s, sampling ${((t2 - t1) / 1000).toFixed(1)} s)\n`,
      );
    },
  );
}
