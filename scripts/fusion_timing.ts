// Seconds per image of the fusions study's arms at matched sampling (docs/study/fusions.md): each
// model folder samples n class-balanced images with the study's sampler (4 AR steps, 25 ancestral
// head steps, float32 head), the folders interleaved over R rounds in one process so that a drift
// of the host's speed reaches each alike; medians of wall and CPU seconds per image.
//   npx tsx scripts/fusion_timing.ts DIR... [--n 100] [--rounds 3] [--threads 1]
import { parseArgs } from 'node:util';
import { timeSampling } from '../bench/d2c_sampling_time.ts';
import { median } from '../bench/timing.ts';
import { D2C } from '../src/pipeline/d2c.ts';
import * as torch from '../src/torch/index.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    n: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '3' },
    threads: { type: 'string', default: '1' },
  },
});
if (positionals.length === 0) throw new Error('usage: scripts/fusion_timing.ts DIR... [--n 100] [--rounds 3] [--threads 1]');
torch.setNumThreads(Number(values.threads));
const n = Number(values.n);
/** The sampler every arm was scored with (scripts/fusion_study.sh SAMPLING). */
const STUDY = {
  stage1: { cfg: 1.5 },
  stage2: { cfg: 3, steps: 4, diffusionSteps: 25, finalDiffusionSteps: 25, clip: 4, headPrecision: 'fp32', headGuidance: 'cfg' },
} as const;
const models = positionals.map((dir) => ({ dir, m: D2C.fromPretrained(dir) }));
for (const { m } of models) timeSampling(m, STUDY, 20, 10); // warm-up
const wall: Record<string, number[]> = Object.fromEntries(positionals.map((d) => [d, []]));
const cpu: Record<string, number[]> = Object.fromEntries(positionals.map((d) => [d, []]));
for (let r = 0; r < Number(values.rounds); r++) {
  for (const { dir, m } of models) {
    const t = timeSampling(m, STUDY, n);
    wall[dir].push(t.wallSeconds / n);
    cpu[dir].push(t.cpuSeconds / n);
  }
}
for (const { dir } of models)
  process.stdout.write(`${dir}: ${median(wall[dir]).toFixed(4)} s / image wall, ${median(cpu[dir]).toFixed(4)} CPU\n`);
