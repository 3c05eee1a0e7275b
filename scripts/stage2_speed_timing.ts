// Seconds per image of the shipped model under each stage-2 speed setting (issue 30's table):
// the same n class-balanced images per setting (batches of 100, seeds as `d2c eval`), one setting
// after another, after a warm-up; wall and CPU seconds per image (at one thread, CPU time is what
// a busy machine does not inflate).
//   npx tsx scripts/stage2_speed_timing.ts [--n 100] [--threads 1] [--model DIR] > timing.json
import { timeSampling } from '../bench/d2c_sampling_time.ts';
import { D2C, type GenerateOptions } from '../src/pipeline/d2c.ts';
import * as torch from '../src/torch/index.ts';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const n = Number(arg('--n', '100'));
const threads = Number(arg('--threads', '1'));
torch.setNumThreads(threads);
const m = D2C.fromPretrained(arg('--model', 'models/d2c-fmnist'));

/** Today's defaults, spelled out, so the row stays today's when d2c.json changes. */
const TODAY = { steps: 4, diffusionSteps: 25, diffusionSampler: 'ancestral', finalDiffusionSteps: 25 } as const;
export const SETTINGS: Record<string, Omit<GenerateOptions, 'classes' | 'seed'>> = {
  'stage1-only': { stage1Only: true },
  'today (ar4, ancestral 25)': { stage2: TODAY },
  'DiSA 25→5': { stage2: { ...TODAY, finalDiffusionSteps: 5 } },
  'ddim 10': { stage2: { ...TODAY, diffusionSampler: 'ddim', diffusionSteps: 10, finalDiffusionSteps: 10 } },
  'ar4, ddim 8': { stage2: { ...TODAY, diffusionSampler: 'ddim', diffusionSteps: 8, finalDiffusionSteps: 8 } },
  'ar2, ddim 8': { stage2: { ...TODAY, steps: 2, diffusionSampler: 'ddim', diffusionSteps: 8, finalDiffusionSteps: 8 } },
  'ar1, ddim 8': { stage2: { ...TODAY, steps: 1, diffusionSampler: 'ddim', diffusionSteps: 8, finalDiffusionSteps: 8 } },
  'ar2, ddim 4': { stage2: { ...TODAY, steps: 2, diffusionSampler: 'ddim', diffusionSteps: 4, finalDiffusionSteps: 4 } },
  'ar2, ancestral 4': { stage2: { ...TODAY, steps: 2, diffusionSteps: 4, finalDiffusionSteps: 4 } },
};
timeSampling(m, {}, 20, 10); // warm-up
const rows: Record<string, { wall: number; cpu: number }> = {};
for (const [name, o] of Object.entries(SETTINGS)) {
  const t = timeSampling(m, o, n);
  rows[name] = { wall: t.wallSeconds / n, cpu: t.cpuSeconds / n };
  process.stderr.write(`${name}: ${JSON.stringify(rows[name])}\n`);
}
process.stdout.write(`${JSON.stringify({ threads, images: n, secondsPerImage: rows }, null, 2)}\n`);
