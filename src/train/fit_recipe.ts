// The recipe of `d2c fit`: which presets, how many steps and which optimiser settings each of the
// four trainings gets for a user's ImageFolder at 32 or 64 px. Steps are the ones for a small
// dataset (about 10 classes × 1,000 images) times `--steps-scale`; batches shrink to the data.
// The tokenizers take what the Fashion-MNIST ones learned (models/d2c-fmnist/README.md): warm-up +
// cosine LR, and the perceptual loss on a classifier of the same data when fit is given one; the
// KL, which must hold clearly more than the coarse VQ, trains twice as long.
import { KL_TRAIN_DEFAULTS, VQ_TRAIN_DEFAULTS } from '../tokenizers/train_step.ts';
import type { Recipe } from './recipe.ts';
import { STAGE1_RECIPE } from './stage1_task.ts';
import { STAGE2_RECIPE } from './stage2_task.ts';
import type { TokenizerRecipe } from './tokenizer_task.ts';

export const FIT_SIZES = [32, 64] as const;
export type FitSize = (typeof FIT_SIZES)[number];

/** Steps of each training at --steps-scale 1. */
export const FIT_BASE_STEPS = { vq: 2000, kl: 4000, stage1: 4000, stage2: 6000 } as const;
export type FitPart = keyof typeof FIT_BASE_STEPS;

export const FIT_BATCH = 32;
export const FIT_LR = 6e-4;

export interface FitPlan {
  size: FitSize;
  presets: { vq: string; kl: string; gpt: string; mar: string };
  steps: Record<FitPart, number>;
  batchSize: number;
}

export function checkFitSize(size: number): FitSize {
  if (!(FIT_SIZES as readonly number[]).includes(size))
    throw new Error(`--size must be one of ${FIT_SIZES.join(', ')} (the colour presets' sizes), got ${size}`);
  return size as FitSize;
}

/** The plan for `count` training images. */
export function fitPlan(size: number, stepsScale: number, count: number): FitPlan {
  const s = checkFitSize(size);
  if (!(stepsScale > 0 && Number.isFinite(stepsScale))) throw new Error(`--steps-scale must be a number > 0, got ${stepsScale}`);
  if (!Number.isInteger(count) || count < 1) throw new Error(`fit: the data has no images (${count})`);
  const steps = Object.fromEntries(
    Object.entries(FIT_BASE_STEPS).map(([k, v]) => [k, Math.max(1, Math.round(v * stepsScale))]),
  ) as Record<FitPart, number>;
  return {
    size: s,
    presets: { vq: `vq_c${s}`, kl: `kl_c${s}`, gpt: `gpt_c${s}`, mar: `mar_c${s}` },
    steps,
    batchSize: Math.min(FIT_BATCH, count),
  };
}

/** An EMA that still averages something over short runs: 0.998 at 4000 steps, none below 20. */
export function fitEmaDecay(steps: number): number {
  return Math.max(0, Math.min(0.998, 1 - 20 / steps));
}

/** Weight of the perceptual loss when fit has a classifier for it (the Fashion-MNIST tokenizers' 0.1). */
export const FIT_PERCEPTUAL_WEIGHT = 0.1;

/** Peak LR, warm-up and final LR of each tokenizer's cosine schedule (the Fashion-MNIST ones'). */
const TOKENIZER_LR = { vq: { lr: 6e-4, warmup: 100, minLr: 3e-5 }, kl: { lr: 1e-3, warmup: 150, minLr: 5e-5 } } as const;

export function fitTokenizerRecipe(kind: 'vq' | 'kl', plan: FitPlan, seed: number, perceptual = false): TokenizerRecipe {
  const steps = plan.steps[kind];
  const base = kind === 'vq' ? VQ_TRAIN_DEFAULTS : KL_TRAIN_DEFAULTS;
  const lr = TOKENIZER_LR[kind];
  return {
    steps,
    batchSize: plan.batchSize,
    emaDecay: fitEmaDecay(steps),
    seed,
    hflip: true,
    train: {
      ...base,
      lr: lr.lr,
      schedule: 'cosine',
      warmup: Math.min(lr.warmup, Math.floor(steps / 10)),
      minLr: lr.minLr,
      gan: null,
      perceptualWeight: perceptual ? FIT_PERCEPTUAL_WEIGHT : 0,
    },
  };
}

export function fitGeneratorRecipe(part: 'stage1' | 'stage2', plan: FitPlan, seed: number): Recipe {
  const steps = plan.steps[part];
  return {
    ...(part === 'stage1' ? STAGE1_RECIPE : STAGE2_RECIPE),
    steps,
    batchSize: plan.batchSize,
    lr: FIT_LR,
    warmup: Math.min(300, Math.floor(steps / 10)),
    emaDecay: fitEmaDecay(steps),
    seed,
  };
}
