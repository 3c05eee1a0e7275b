// Where D2C.generate spends its time: wall time per network (stage-1 GPT, VQ decoder, MAR
// transformer, diffusion head, KL decoder), then libtorch's operator profile of one call.
// Networks are timed by wrapping the loaded model's methods in this script only.
//   npx tsx scripts/profile_generate.ts [--model DIR] [--batch 100] [--threads 1] [--repeat 1] [--precision fp32|bf16] [--set k=v …]
// `--repeat N` times N calls (after the warm-up) and reports their sum: one call at batch 1 is too
// short to time alone.
// `--set` overrides a stage-2 option (steps, diffusionSteps, diffusionSampler, diffusionStepsFinal).
import { D2C, type GenerateOptions } from '../src/pipeline/d2c.ts';
import * as torch from '../src/torch/index.ts';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const model = arg('--model', 'models/d2c-fmnist');
const batch = Number(arg('--batch', '100'));
const threads = Number(arg('--threads', '1'));
const repeat = Number(arg('--repeat', '1'));
if (!Number.isInteger(repeat) || repeat < 1) throw new Error(`--repeat must be a positive integer, got ${repeat}`);
const stage2: Record<string, string | number> = {};
process.argv.forEach((a, i) => {
  if (a !== '--set') return;
  const [k, v] = process.argv[i + 1].split('=');
  stage2[k] = Number.isFinite(Number(v)) ? Number(v) : v;
});
torch.setNumThreads(threads);

const precision = arg('--precision', 'fp32') as torch.Precision;
const m = D2C.fromPretrained(model, { precision });
const spent = new Map<string, number>();
/** Wraps obj[key] so its wall time adds to `label`. */
function timeMethod<T extends object>(obj: T, key: keyof T & string, label: string): void {
  const fn = (obj as Record<string, unknown>)[key] as (...a: unknown[]) => unknown;
  (obj as Record<string, unknown>)[key] = (...a: unknown[]) => {
    const t0 = performance.now();
    try {
      return fn.apply(obj, a);
    } finally {
      spent.set(label, (spent.get(label) ?? 0) + performance.now() - t0);
    }
  };
}
if (m.stage1) {
  timeMethod(m.stage1, 'prefill', 'stage-1 GPT');
  timeMethod(m.stage1, 'decode', 'stage-1 GPT');
}
if (m.vq) timeMethod(m.vq, 'decodeCodes', 'VQ decoder');
timeMethod(m.stage2, 'encodeCondition', 'MAR discrete encoder');
timeMethod(m.stage2, 'forwardMaeEncoder', 'MAR encoder');
timeMethod(m.stage2, 'forwardMaeDecoder', 'MAR decoder');
timeMethod(m.stage2.diffloss, 'sample', 'diffusion head');
timeMethod(m.kl, 'decodeLatents', 'KL decoder');

const opts: GenerateOptions = {
  classes: Array.from({ length: batch }, (_, i) => i % m.classes.length),
  seed: 0,
  preview: false, // the final images, as d2c eval samples them
  stage2: stage2 as GenerateOptions['stage2'],
};
torch.dispose(m.generate({ ...opts, classes: opts.classes.slice(0, Math.min(batch, 10)) })); // warm-up
spent.clear();
const t0 = performance.now();
for (let r = 0; r < repeat; r++) torch.dispose(m.generate({ ...opts, seed: r }));
const wall = performance.now() - t0;
const rows = [...spent.entries()].sort((a, b) => b[1] - a[1]);
process.stdout.write(
  `batch ${batch} × ${repeat} call(s), ${threads} thread(s), ${precision}, stage2 ${JSON.stringify(stage2)}: ${(wall / 1000).toFixed(3)} s\n`,
);
for (const [k, ms] of rows)
  process.stdout.write(`  ${k.padEnd(22)} ${(ms / 1000).toFixed(3)} s  ${((100 * ms) / wall).toFixed(1)}%\n`);
const rest = wall - rows.reduce((s, [, ms]) => s + ms, 0);
process.stdout.write(
  `  ${'other (stage-1 loop …)'.padEnd(22)} ${(rest / 1000).toFixed(3)} s  ${((100 * rest) / wall).toFixed(1)}%\n`,
);
const { ops } = torch.profile(() => torch.dispose(m.generate(opts)));
process.stdout.write(`${torch.formatProfile(ops, 15)}\n`);
