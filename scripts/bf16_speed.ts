// CPU speed of --precision bf16 against fp32: a training step (forward + backward) of the shipped
// model's stage-1 GPT (gpt_fmnist, batch 32) and a generation of 4 images by the shipped model,
// alternating the precisions, in CPU seconds of this process (process.cpuUsage), so that other
// load on the machine changes the wall time but not the figure much.
// Usage: npx tsx scripts/bf16_speed.ts [ROUNDS]
import type { GPT } from '../src/generators/gpt.ts';
import { D2C } from '../src/pipeline/d2c.ts';
import { buildPart, resolveConfig } from '../src/pipeline/parts.ts';
import * as torch from '../src/torch/index.ts';

const rounds = Number(process.argv[2] ?? 3);
torch.setNumThreads(1);

function cpuSeconds(fn: () => void): number {
  const t0 = process.cpuUsage();
  fn();
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / 1e6;
}

torch.manualSeed(0);
const gpt = buildPart('gpt', resolveConfig('gpt', 'gpt_fmnist')) as GPT;
gpt.train();
const g = new torch.Generator(0);
const codes = torch.keep(torch.randint(0, 512, [32, 64], { generator: g }));
const labels = torch.keep(torch.randint(0, 10, [32], { generator: g }));
const trainStep = (p: torch.Precision) =>
  torch.tidy(() => {
    torch.autocast(p, () => gpt.loss(codes, labels, g)).backward();
    for (const q of gpt.parameters()) q.grad = null;
  });

const models = {
  fp32: D2C.fromPretrained('models/d2c-fmnist'),
  bf16: D2C.fromPretrained('models/d2c-fmnist', { precision: 'bf16' }),
};
const sample = (p: torch.Precision) => torch.dispose(models[p].generate({ classes: [0, 1, 2, 3], seed: 0 }));

const results: Record<string, Record<torch.Precision, number[]>> = {
  'gpt_fmnist training step (batch 32)': { fp32: [], bf16: [] },
  'shipped model, 4 images': { fp32: [], bf16: [] },
};
for (const p of ['fp32', 'bf16'] as const) {
  trainStep(p); // warm-up
  sample(p);
}
for (let r = 0; r < rounds; r++) {
  for (const p of ['fp32', 'bf16'] as const) {
    results['gpt_fmnist training step (batch 32)'][p].push(cpuSeconds(() => trainStep(p)));
    results['shipped model, 4 images'][p].push(cpuSeconds(() => sample(p)));
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const [what, v] of Object.entries(results)) {
  const f = median(v.fp32);
  const b = median(v.bf16);
  process.stdout.write(
    `${what}: fp32 ${f.toFixed(2)} CPU s, bf16 ${b.toFixed(2)} CPU s (bf16/fp32 ${(b / f).toFixed(2)}×; median of ${rounds})\n`,
  );
}
