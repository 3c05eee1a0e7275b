// Seconds per image of the shipped model under each stage-2 speed setting (issue 30's table):
// the same n class-balanced images per setting (batches of 100, seeds as `d2c eval`), one setting
// after another, after a warm-up; wall and CPU seconds per image (at one thread, CPU time is what
// a busy machine does not inflate).
//   npx tsx scripts/stage2_speed_timing.ts [--n 100] [--threads 1] [--model DIR] [--only 'A;B'] [--rounds R] > timing.json
import { timeSampling } from '../bench/d2c_sampling_time.ts';
import { median } from '../bench/timing.ts';
import { D2C, type GenerateOptions } from '../src/pipeline/d2c.ts';
import * as torch from '../src/torch/index.ts';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const n = Number(arg('--n', '100'));
const threads = Number(arg('--threads', '1'));
const rounds = Number(arg('--rounds', '1'));
torch.setNumThreads(threads);
const m = D2C.fromPretrained(arg('--model', 'models/d2c-fmnist'));

/** Today's defaults, spelled out, so the row stays today's when d2c.json changes. */
const TODAY = {
  steps: 4,
  diffusionSteps: 25,
  diffusionSampler: 'ancestral',
  finalDiffusionSteps: 25,
  headPrecision: 'fp32',
  headGuidance: 'cfg',
} as const;
/** A setting: generate's options, and `precision` for the whole model (`--precision`; default fp32). */
type Setting = Omit<GenerateOptions, 'classes' | 'seed'> & { precision?: torch.Precision };
export const SETTINGS: Record<string, Setting> = {
  'stage1-only': { stage1Only: true },
  'today (ar4, ancestral 25)': { stage2: TODAY },
  'DiSA 25→5': { stage2: { ...TODAY, finalDiffusionSteps: 5 } },
  'ddim 10': { stage2: { ...TODAY, diffusionSampler: 'ddim', diffusionSteps: 10, finalDiffusionSteps: 10 } },
  'ar4, ddim 8': { stage2: { ...TODAY, diffusionSampler: 'ddim', diffusionSteps: 8, finalDiffusionSteps: 8 } },
  'ar2, ddim 8': { stage2: { ...TODAY, steps: 2, diffusionSampler: 'ddim', diffusionSteps: 8, finalDiffusionSteps: 8 } },
  'ar1, ddim 8': { stage2: { ...TODAY, steps: 1, diffusionSampler: 'ddim', diffusionSteps: 8, finalDiffusionSteps: 8 } },
  'ar2, ddim 4': { stage2: { ...TODAY, steps: 2, diffusionSampler: 'ddim', diffusionSteps: 4, finalDiffusionSteps: 4 } },
  'ar2, ancestral 4': { stage2: { ...TODAY, steps: 2, diffusionSteps: 4, finalDiffusionSteps: 4 } },
  'ar2, DiSA 25→5': { stage2: { ...TODAY, steps: 2, finalDiffusionSteps: 5 } },
  'ar2, DiSA 15→3': { stage2: { ...TODAY, steps: 2, diffusionSteps: 15, finalDiffusionSteps: 3 } },
  'stage1-only, bf16': { stage1Only: true, precision: 'bf16' },
  'DiSA 25→5, bf16': { stage2: { ...TODAY, finalDiffusionSteps: 5 }, precision: 'bf16' },
  'ar2, DiSA 25→5, bf16': { stage2: { ...TODAY, steps: 2, finalDiffusionSteps: 5 }, precision: 'bf16' },
  'DiSA 25→5, bf16 head': { stage2: { ...TODAY, finalDiffusionSteps: 5, headPrecision: 'bf16' } },
  'ar2, DiSA 25→5, bf16 head': { stage2: { ...TODAY, steps: 2, finalDiffusionSteps: 5, headPrecision: 'bf16' } },
  // the guidance-distilled head (a model with one: `d2c train guided-head`)
  'DiSA 25→5, bf16 head, distilled': {
    stage2: { ...TODAY, finalDiffusionSteps: 5, headPrecision: 'bf16', headGuidance: 'distilled' },
  },
  'ar2, DiSA 25→5, bf16 head, distilled': {
    stage2: { ...TODAY, steps: 2, finalDiffusionSteps: 5, headPrecision: 'bf16', headGuidance: 'distilled' },
  },
};
/** --only 'a;b': time only these settings (names as above; they contain commas). */
const only = arg('--only', '')
  .split(';')
  .filter((x) => x);
for (const name of only)
  if (!(name in SETTINGS)) throw new Error(`--only: no setting '${name}' (${Object.keys(SETTINGS).join(', ')})`);
timeSampling(m, {}, 20, 10); // warm-up
// Rounds interleave the settings, so a drift of the host's speed reaches each setting alike; each
// setting's figure is its median over the rounds, and its ratio to stage 1 alone the median of the
// per-round ratios.
const chosen = Object.entries(SETTINGS).filter(([name]) => only.length === 0 || only.includes(name));
const samples: Record<string, { wall: number; cpu: number }[]> = Object.fromEntries(chosen.map(([name]) => [name, []]));
for (let r = 0; r < rounds; r++) {
  for (const [name, { precision = 'fp32', ...o }] of chosen) {
    m.precision = precision;
    const t = timeSampling(m, o, n);
    samples[name].push({ wall: t.wallSeconds / n, cpu: t.cpuSeconds / n });
  }
}
const rows: Record<string, { wall: number; cpu: number; xStage1?: number }> = {};
for (const [name, xs] of Object.entries(samples)) {
  const base = samples['stage1-only'];
  rows[name] = { wall: median(xs.map((x) => x.wall)), cpu: median(xs.map((x) => x.cpu)) };
  if (base) rows[name].xStage1 = median(xs.map((x, i) => x.wall / base[i].wall));
  process.stderr.write(`${name}: ${JSON.stringify(rows[name])}\n`);
}
process.stdout.write(`${JSON.stringify({ threads, images: n, rounds, secondsPerImage: rows }, null, 2)}\n`);
