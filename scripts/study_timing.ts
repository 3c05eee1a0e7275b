// Seconds per image of every study arm and setting, measured apart from the evaluations (which ran
// beside training jobs): each model samples the same 100 class-balanced images per setting, one
// setting after another, on an otherwise idle machine, after one warm-up batch.
//   npx tsx scripts/study_timing.ts runs/study [--threads 2] > runs/study/timing.json
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { D2C, type GenerateOptions } from '../src/pipeline/d2c.ts';
import * as torch from '../src/torch/index.ts';

const studyDir = process.argv[2] ?? 'runs/study';
const threads = Number(process.argv[process.argv.indexOf('--threads') + 1] || 2);
torch.setNumThreads(threads);
const ARMS = ['mar-only', 'qformer', 'crossattn', 'add', 'prefix', 'add-mix'];
const SETTINGS: [string, Partial<GenerateOptions>][] = [
  ['ar1-d25', { stage2: { steps: 1, diffusionSteps: 25 } }],
  ['ar2-d25', { stage2: { steps: 2, diffusionSteps: 25 } }],
  ['ar4-d25', { stage2: { steps: 4, diffusionSteps: 25 } }],
  ['ar8-d25', { stage2: { steps: 8, diffusionSteps: 25 } }],
  ['ar8-d50', { stage2: { steps: 8, diffusionSteps: 50 } }],
  ['stage1-only', { stage1Only: true }],
];
const classes = Array.from({ length: 100 }, (_, i) => i % 10);
const out: Record<string, Record<string, number>> = {};
for (const arm of ARMS) {
  const dir = join(studyDir, arm, 'model');
  if (!existsSync(dir)) continue;
  const m = D2C.fromPretrained(dir);
  out[arm] = {};
  torch.dispose(m.generate({ classes: classes.slice(0, 10), seed: 1, stage2: { steps: 2, diffusionSteps: 5 } }));
  for (const [name, o] of SETTINGS) {
    if (m.marOnly && o.stage1Only) continue;
    const t0 = performance.now();
    torch.dispose(m.generate({ classes, seed: 0, ...o }));
    out[arm][name] = (performance.now() - t0) / 1000 / classes.length;
  }
}
process.stdout.write(`${JSON.stringify({ threads, images: classes.length, secondsPerImage: out }, null, 2)}\n`);
