// A tiny KL tokenizer run with the PatchGAN loss on from step 0, for the tokenizer resume test:
// the real training task (tokenizer_task.ts) and loop (trainer.ts) on a small synthetic set.
// Run as a script it trains a fresh run to <steps>, or resumes the checkpoint in <dir> and finishes:
//   tsx test/support/tokenizer_resume_run.ts <dir> <steps> [resume]
import { syntheticImageSet } from '../../src/data/synthetic.ts';
import { type PartConfig, resolveConfig } from '../../src/pipeline/parts.ts';
import { KL_TRAIN_DEFAULTS } from '../../src/tokenizers/train_step.ts';
import * as torch from '../../src/torch/index.ts';
import { type TokenizerRecipe, type TokenizerTaskOptions, tokenizerTask } from '../../src/train/tokenizer_task.ts';
import { runTraining } from '../../src/train/trainer.ts';

export const TOTAL = 6; // 2 batches per epoch

const SIZE = 16;

export function tinyGanPart(): PartConfig {
  const overrides = { ch: 32, chMult: [1, 1], numResBlocks: 1, resolution: SIZE, attnResolutions: [] };
  return { kind: 'kl', preset: 'kl_fmnist', config: resolveConfig('kl', 'kl_fmnist', overrides) };
}

/** GAN on from step 0 with a small discriminator (two stride-2 stages, BatchNorm). */
export function tinyGanRecipe(gan: { start: number } | null = { start: 0 }): TokenizerRecipe {
  return {
    steps: TOTAL,
    batchSize: 4,
    emaDecay: 0.9,
    seed: 0,
    hflip: true,
    train: {
      ...KL_TRAIN_DEFAULTS,
      lr: 1e-3,
      gan: gan && { start: gan.start, weight: 0.5, adaptive: true, ndf: 8, nLayers: 2 },
    },
  };
}

export function tinyGanTask(recipe = tinyGanRecipe(), opts: TokenizerTaskOptions = {}) {
  torch.setNumThreads(1); // bit-exactness needs the same thread count in every process
  const set = syntheticImageSet({ count: 8, seed: 0, size: SIZE, channels: 1 });
  return tokenizerTask(set, tinyGanPart(), recipe, opts);
}

export async function trainTiny(dir: string, steps: number, resume = false) {
  return runTraining(await tinyGanTask(), { steps, outDir: dir, resume, quiet: true, logEvery: 1000, saveEvery: 1000 });
}

if (process.argv[1]?.endsWith('tokenizer_resume_run.ts')) {
  const [dir, n, mode] = process.argv.slice(2);
  if (!dir || !(Number(n) > 0) || (mode !== undefined && mode !== 'resume')) {
    throw new Error(`usage: tokenizer_resume_run.ts <dir> <steps> [resume]; got ${process.argv.slice(2).join(' ')}`);
  }
  await trainTiny(dir, Number(n), mode === 'resume');
}
