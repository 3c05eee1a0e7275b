// GPU-hours of the ImageNet-256 recipe from a `d2c dry-run` JSON line: FLOPs per image (measured:
// the dry run's FLOPs per step / its batch) × the references' global batch × steps, at a stated
// utilisation of a named GPU. Usage: npx tsx scripts/imagenet_cost.ts DRY_RUN_OUTPUT [UTILISATION]
// (the file holds the dry run's stdout; its last line is the JSON). Prints a Markdown table.
import { readFileSync } from 'node:fs';

const IMAGENET_TRAIN = 1_281_167;
/** NVIDIA A100 SXM4 80 GB: dense bf16 tensor-core peak, from NVIDIA's data sheet. */
const GPU = { name: 'A100-SXM4-80GB', peakFlops: 312e12 };

interface Phase {
  phase: string;
  batch: number;
  flops: number;
}

/** The references' schedules (LlamaGen arXiv 2406.06525; MAR arXiv 2406.11838). */
const REFERENCE: Record<string, { globalBatch: number; epochs: number; source: string }> = {
  vq: { globalBatch: 128, epochs: 40, source: 'LlamaGen VQ-16: batch 128, lr 1e-4, 40 epochs' },
  kl: { globalBatch: 128, epochs: 40, source: 'estimated as VQ-16 (MAR does not publish KL-16’s schedule)' },
  stage1: { globalBatch: 256, epochs: 300, source: 'LlamaGen GPT-B: batch 256, lr 1e-4, 300 epochs' },
  stage2: { globalBatch: 2048, epochs: 400, source: 'MAR-B: batch 2048, lr 8e-4 (1e-4 × 2048/256), 400 epochs' },
};

const [file, util = '0.4'] = process.argv.slice(2);
if (!file) throw new Error('usage: npx tsx scripts/imagenet_cost.ts DRY_RUN_OUTPUT [UTILISATION]');
const utilisation = Number(util);
if (!(utilisation > 0 && utilisation <= 1)) throw new Error(`utilisation must be in (0, 1], got ${util}`);
const lines = readFileSync(file, 'utf8').trim().split('\n');
const run = JSON.parse(lines[lines.length - 1]) as { phases: Phase[]; dryRun: Record<string, unknown> };
const perSecond = GPU.peakFlops * utilisation;
const rows: string[] = [];
let total = 0;
for (const p of run.phases) {
  const perImage = p.flops / p.batch; // measured
  let images: number;
  let how: string;
  if (p.phase === 'cache') {
    images = IMAGENET_TRAIN;
    how = `one pass over ${IMAGENET_TRAIN.toLocaleString('en')} images (each also flipped)`;
  } else if (p.phase === 'sample') {
    images = 50_000;
    how = `50,000 images for FID, at the dry run's ${String(run.dryRun.sampleSteps)} AR × ${String(run.dryRun.diffusionSteps)} diffusion steps`;
  } else {
    const r = REFERENCE[p.phase];
    const steps = Math.round((r.epochs * IMAGENET_TRAIN) / r.globalBatch);
    images = steps * r.globalBatch;
    how = `${steps.toLocaleString('en')} steps × ${r.globalBatch} (${r.source})`;
  }
  const flops = perImage * images;
  const hours = flops / perSecond / 3600;
  total += hours;
  rows.push(
    `| ${p.phase} | ${(perImage / 1e9).toFixed(1)} G (measured) | ${how} | ${(flops / 1e18).toFixed(1)} E | ${hours.toFixed(0)} (estimated) |`,
  );
}
process.stdout.write(
  `GPU: ${GPU.name}, bf16 peak ${GPU.peakFlops / 1e12} TFLOP/s at ${utilisation * 100}% utilisation (assumed)\n\n` +
    '| phase | FLOPs per image | reference work | total FLOPs | GPU-hours |\n| --- | --- | --- | --- | --- |\n' +
    `${rows.join('\n')}\n| all | | | | ${total.toFixed(0)} (estimated) |\n`,
);
