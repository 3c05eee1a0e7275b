// GPU-hours of the ImageNet-256 recipe from a `d2c dry-run` output: FLOPs per image (measured: the
// dry run's FLOPs per step / its batch) × the references' global batch × steps, at an assumed
// utilisation of a named GPU's dense bf16 peak. Prints a Markdown table.
//   npx tsx scripts/imagenet_cost.ts DRY_RUN_OUTPUT [UTILISATION] [a100|h100]
// DRY_RUN_OUTPUT holds the dry run's stdout (its last line is the JSON). Defaults: 0.4, a100.
import { readFileSync } from 'node:fs';

const IMAGENET_TRAIN = 1_281_167;
const FID_SAMPLES = 50_000;
/** Dense bf16 tensor-core peaks from NVIDIA's data sheets (without sparsity). */
const GPUS = {
  a100: { name: 'NVIDIA A100-SXM4-80GB', peakFlops: 312e12 },
  h100: { name: 'NVIDIA H100-SXM5-80GB', peakFlops: 989e12 },
};

interface Phase {
  phase: string;
  batch: number;
  flops: number;
  officialFlops?: number;
}

/** The references' schedules (LlamaGen arXiv 2406.06525; MAR arXiv 2406.11838). */
const REFERENCE: Record<string, { globalBatch: number; epochs: number; source: string }> = {
  vq: { globalBatch: 128, epochs: 40, source: 'LlamaGen VQ-16: batch 128, 40 epochs' },
  kl: { globalBatch: 128, epochs: 40, source: 'assumed as VQ-16 (MAR does not publish KL-16’s schedule)' },
  stage1: { globalBatch: 256, epochs: 300, source: 'LlamaGen GPT-B: batch 256, 300 epochs' },
  stage2: { globalBatch: 2048, epochs: 400, source: 'MAR-B: batch 2048, 400 epochs' },
};

const [file, util = '0.4', gpuName = 'a100'] = process.argv.slice(2);
if (!file) throw new Error('usage: npx tsx scripts/imagenet_cost.ts DRY_RUN_OUTPUT [UTILISATION] [a100|h100]');
const utilisation = Number(util);
if (!(utilisation > 0 && utilisation <= 1)) throw new Error(`utilisation must be in (0, 1], got ${util}`);
const gpu = GPUS[gpuName as keyof typeof GPUS];
if (!gpu) throw new Error(`GPU must be one of ${Object.keys(GPUS).join(', ')}, got ${gpuName}`);
const lines = readFileSync(file, 'utf8').trim().split('\n');
const run = JSON.parse(lines[lines.length - 1]) as { phases: Phase[]; dryRun: Record<string, unknown> };
const perSecond = gpu.peakFlops * utilisation;
const rows: string[] = [];
let total = 0;
for (const p of run.phases) {
  let perImage = p.flops / p.batch;
  let counted = 'measured';
  let images: number;
  let how: string;
  if (p.phase === 'cache') {
    images = IMAGENET_TRAIN;
    how = `one pass over ${IMAGENET_TRAIN.toLocaleString('en')} images (each also flipped)`;
  } else if (p.phase === 'sample') {
    images = FID_SAMPLES;
    const ran = `${String(run.dryRun.sampleSteps)} × ${String(run.dryRun.diffusionSteps)}`;
    if (p.officialFlops !== undefined && p.officialFlops !== p.flops) {
      perImage = p.officialFlops; // the dry run sampled with fewer steps: its parts scaled to MAR's
      counted = `estimated from the ${ran}-step sample's parts`;
    }
    how = `${FID_SAMPLES.toLocaleString('en')} images for FID at MAR's 64 AR × 100 diffusion steps, CFG`;
  } else {
    const r = REFERENCE[p.phase];
    const steps = Math.round((r.epochs * IMAGENET_TRAIN) / r.globalBatch);
    images = steps * r.globalBatch;
    how = `${steps.toLocaleString('en')} steps × ${r.globalBatch} (${r.source})`;
  }
  const flops = perImage * images;
  const hours = flops / perSecond / 3600;
  total += hours;
  const fmtHours = hours >= 10 ? hours.toFixed(0) : hours.toFixed(1);
  rows.push(
    `| ${p.phase} | ${(perImage / 1e9).toFixed(1)} G (${counted}) | ${how} | ${(flops / 1e18).toFixed(2)} E | ${fmtHours} (estimated) |`,
  );
}
process.stdout.write(
  `GPU: ${gpu.name}, dense bf16 peak ${gpu.peakFlops / 1e12} TFLOP/s, at ${utilisation * 100}% utilisation (assumed)\n\n` +
    '| phase | FLOPs per image | reference work | total FLOPs | GPU-hours |\n| --- | --- | --- | --- | --- |\n' +
    `${rows.join('\n')}\n| all | | | | ${total.toFixed(0)} (estimated) |\n`,
);
