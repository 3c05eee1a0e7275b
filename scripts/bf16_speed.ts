// CPU speed of --precision bf16 against fp32, in CPU seconds of this process (process.cpuUsage, so
// that other load on the machine changes the wall time but not the figure much), one thread,
// alternating the precisions: two linear layers (bare bf16 and under autocast, which adds the
// casts), a training step (forward + backward) of gpt_b (batch 1, 256 tokens) and of the shipped
// model's gpt_fmnist (batch 32), and a generation of 4 images by the shipped model.
// Usage: npx tsx scripts/bf16_speed.ts [ROUNDS]
import type { GPT } from '../src/generators/gpt.ts';
import { D2C } from '../src/pipeline/d2c.ts';
import { buildPart, resolveConfig } from '../src/pipeline/parts.ts';
import * as torch from '../src/torch/index.ts';

const rounds = Number(process.argv[2] ?? 3);
torch.setNumThreads(1);
const g = new torch.Generator(0);

function cpuSeconds(fn: () => void): number {
  const t0 = process.cpuUsage();
  fn();
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / 1e6;
}

/** x [m, k] · wᵀ [k, n], 10 times: fp32, bf16 tensors as given, and fp32 tensors under autocast. */
function linearCase(m: number, k: number, n: number): Record<string, () => void> {
  const x = torch.keep(torch.randn([m, k], { generator: g }));
  const w = torch.keep(torch.randn([n, k], { generator: g }));
  const [xb, wb] = torch.keep([x.to('bfloat16'), w.to('bfloat16')]);
  const times = (f: () => unknown) => () => {
    for (let i = 0; i < 10; i++) torch.tidy(() => void f());
  };
  return {
    fp32: times(() => torch.F.linear(x, w)),
    bf16: times(() => torch.autocast('bf16', () => torch.F.linear(x, w))),
    'bare bf16': times(() => torch.F.linear(xb, wb)),
  };
}

/** One training step of a GPT preset on random codes, in each precision. */
function gptStep(preset: string, batch: number): Record<string, () => void> {
  torch.manualSeed(0);
  const gpt = buildPart('gpt', resolveConfig('gpt', preset)) as GPT;
  gpt.train();
  const { vocabSize, blockSize, numClasses } = gpt.config;
  const codes = torch.keep(torch.randint(0, vocabSize, [batch, blockSize], { generator: g }));
  const labels = torch.keep(torch.randint(0, numClasses, [batch], { generator: g }));
  const step = (p: torch.Precision) => () =>
    torch.tidy(() => {
      torch.autocast(p, () => gpt.loss(codes, labels, g)).backward();
      for (const q of gpt.parameters()) q.grad = null;
    });
  return { fp32: step('fp32'), bf16: step('bf16') };
}

const models = {
  fp32: D2C.fromPretrained('models/d2c-fmnist'),
  bf16: D2C.fromPretrained('models/d2c-fmnist', { precision: 'bf16' }),
};
const sample = (p: torch.Precision) => () => torch.dispose(models[p].generate({ classes: [0, 1, 2, 3], seed: 0 }));

const cases: Record<string, Record<string, () => void>> = {
  'linear 256×768 · 768×768, ×10': linearCase(256, 768, 768),
  'linear 2048×768 · 768×3072, ×10': linearCase(2048, 768, 3072),
  'gpt_b training step (batch 1)': gptStep('gpt_b', 1),
  'gpt_fmnist training step (batch 32)': gptStep('gpt_fmnist', 32),
  'shipped model, 4 images': { fp32: sample('fp32'), bf16: sample('bf16') },
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const [what, runs] of Object.entries(cases)) {
  for (const f of Object.values(runs)) f(); // warm-up
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(runs).map((k) => [k, []]));
  for (let r = 0; r < rounds; r++) for (const [k, f] of Object.entries(runs)) times[k].push(cpuSeconds(f));
  const fp32 = median(times.fp32);
  const others = Object.keys(runs)
    .filter((k) => k !== 'fp32')
    .map((k) => `${k} ${median(times[k]).toFixed(3)} (${(median(times[k]) / fp32).toFixed(2)}×)`);
  process.stdout.write(`${what}: fp32 ${fp32.toFixed(3)} CPU s, ${others.join(', ')}; median of ${rounds}\n`);
}
