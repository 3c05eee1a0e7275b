// One tokenizer training step per kind (the CLI's `d2c train tokenizer` loops over these): the
// generator update (reconstruction + VQ losses or KL + optional PatchGAN hinge loss after a start step,
// AdamW, gradient clipping), then, once the GAN is on, the discriminator update — the order of
// LlamaGen's tokenizer/tokenizer_image/vq_train.py. LPIPS needs VGG weights that cannot be
// downloaded here; an optional perceptual loss over a given feature network (the trainer passes the
// Fashion-MNIST classifier's) stands in for it. The learning rate follows an optional warm-up +
// cosine schedule over the run's steps.

import { AdamW } from '../optim/adamw.ts';
import { clipGradNorm_, gradNorm as gradNormOf } from '../optim/clip.ts';
import { type LrScheduleKind, lrAt } from '../optim/schedule.ts';
import type { Generator, Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';
import { NLayerDiscriminator } from './discriminator.ts';
import { AutoencoderKL } from './kl.ts';
import {
  adaptiveGanWeight,
  type FeatureMapsFn,
  ganWeight,
  hingeDLoss,
  hingeGenLoss,
  klLoss,
  perceptualLoss,
  psnr,
  type RecLoss,
  reconstructionLoss,
} from './losses.ts';
import type { Tokenizer } from './presets.ts';
import { VQModel } from './vq.ts';

export interface GanOptions {
  start: number; // first step with the GAN losses (LlamaGen: 20000)
  weight: number; // LlamaGen: 0.5
  adaptive: boolean; // taming's adaptive weight at the decoder's last layer
  ndf: number;
  nLayers: number;
}

export interface TokenizerTrainOptions {
  recLoss: RecLoss;
  recWeight: number;
  codebookWeight: number; // VQ: multiplies vq + commit + entropy
  klWeight: number; // KL: see losses.klLoss for the scale
  gan: GanOptions | null;
  lr: number;
  betas: [number, number];
  weightDecay: number;
  maxGradNorm: number; // 0 disables clipping
  /** Weight of perceptualLoss (0: off; needs a feature network in createTokenizerTrainState). */
  perceptualWeight?: number;
  /** LR schedule over the run's steps (absent: constant, as before). */
  schedule?: LrScheduleKind;
  warmup?: number;
  minLr?: number;
}

/** LlamaGen vq_train.py defaults (without LPIPS). */
export const VQ_TRAIN_DEFAULTS: TokenizerTrainOptions = {
  recLoss: 'l2',
  recWeight: 1,
  codebookWeight: 1,
  klWeight: 0,
  gan: { start: 20000, weight: 0.5, adaptive: false, ndf: 64, nLayers: 3 },
  lr: 1e-4,
  betas: [0.9, 0.95],
  weightDecay: 0.05,
  maxGradNorm: 1,
};

/** LDM's KL-VAE recipe (L1 pixels, kl_weight 1e-6, adaptive GAN weight) with LlamaGen's optimizer. */
export const KL_TRAIN_DEFAULTS: TokenizerTrainOptions = {
  ...VQ_TRAIN_DEFAULTS,
  recLoss: 'l1',
  codebookWeight: 0,
  klWeight: 1e-6,
  gan: { start: 20000, weight: 0.5, adaptive: true, ndf: 64, nLayers: 3 },
};

export interface TokenizerTrainState {
  readonly model: Tokenizer;
  readonly disc: NLayerDiscriminator | null;
  readonly opt: AdamW;
  readonly optD: AdamW | null;
  readonly opts: TokenizerTrainOptions;
  readonly generator: Generator; // posterior samples (KL) and the discriminator's init
  readonly perceptual: FeatureMapsFn | null;
  /** Steps of the whole run: the end of a cosine schedule. */
  readonly totalSteps: number;
  step: number;
  /** Data-parallel runs: gradient averaging over the ranks for the tokenizer and the discriminator. */
  sync?: { model: GradSyncLike; disc: GradSyncLike | null };
}

/** What a data-parallel run hooks around a backward pass (train/data_parallel.ts's GradAverager). */
export interface GradSyncLike {
  arm(): void;
  finish(): void;
}

export interface TokenizerStepMetrics {
  step: number;
  loss: number; // the generator objective
  rec: number; // weighted reconstruction loss
  psnr: number;
  gradNorm: number; // before clipping
  vq?: number;
  commit?: number;
  entropy?: number;
  usage?: number; // rolling codebook usage
  batchUsage?: number;
  perplexity?: number;
  kl?: number;
  perceptual?: number; // weighted perceptual loss
  lr?: number;
  gen?: number; // weighted generator GAN loss
  disc?: number; // weighted discriminator loss
  ganWeight?: number;
}

export function createTokenizerTrainState(
  model: Tokenizer,
  opts: TokenizerTrainOptions,
  generator: Generator,
  extra: { perceptual?: FeatureMapsFn; totalSteps?: number } = {},
): TokenizerTrainState {
  if ((opts.perceptualWeight ?? 0) > 0 && !extra.perceptual)
    throw new Error(`perceptualWeight ${opts.perceptualWeight} needs a feature network for the perceptual loss`);
  if (opts.schedule === 'cosine' && !(extra.totalSteps && extra.totalSteps > (opts.warmup ?? 0)))
    throw new Error(`a cosine LR schedule needs the run's total steps (> warmup ${opts.warmup ?? 0}), got ${extra.totalSteps}`);
  const hyper = { lr: opts.lr, betas: opts.betas, weightDecay: opts.weightDecay };
  const named = model.namedParameters();
  const opt = new AdamW([{ params: named.map(([, p]) => p), names: named.map(([n]) => n) }], hyper);
  let disc: NLayerDiscriminator | null = null;
  let optD: AdamW | null = null;
  if (opts.gan) {
    const inChannels = model.config.outChannels;
    disc = new NLayerDiscriminator({ inChannels, ndf: opts.gan.ndf, nLayers: opts.gan.nLayers }, { generator });
    const namedD = disc.namedParameters(); // names make a checkpoint mismatch readable
    optD = new AdamW([{ params: namedD.map(([, p]) => p), names: namedD.map(([n]) => n) }], hyper);
  }
  const perceptual = (opts.perceptualWeight ?? 0) > 0 ? (extra.perceptual ?? null) : null;
  return { model, disc, opt, optD, opts, generator, perceptual, totalSteps: extra.totalSteps ?? 0, step: 0 };
}

/** One step for either kind. `images` [B, C, H, W] in [−1, 1]. */
export function tokenizerTrainStep(s: TokenizerTrainState, images: Tensor): TokenizerStepMetrics {
  if (s.model instanceof VQModel) return vqTrainStep(s, images);
  if (s.model instanceof AutoencoderKL) return klTrainStep(s, images);
  throw new Error('tokenizerTrainStep: the model is neither a VQModel nor an AutoencoderKL');
}

export function vqTrainStep(s: TokenizerTrainState, images: Tensor): TokenizerStepMetrics {
  const model = s.model;
  if (!(model instanceof VQModel)) throw new Error('vqTrainStep: expected a VQModel');
  return torch.tidy(() => {
    model.train();
    const { recon, enc } = model.forward(images);
    if (!enc.losses || !enc.stats) throw new Error('vqTrainStep: the quantizer returned no losses in training mode');
    const { vq, commit, entropy } = enc.losses;
    const codebook = vq.add(commit).add(entropy).mul(s.opts.codebookWeight);
    const m = generatorUpdate(s, images, recon, codebook, model.decoder.lastLayer);
    return {
      ...m,
      vq: vq.item(),
      commit: commit.item(),
      entropy: entropy.item(),
      usage: enc.stats.usage,
      batchUsage: enc.stats.batchUsage,
      perplexity: enc.stats.perplexity,
    };
  });
}

export function klTrainStep(s: TokenizerTrainState, images: Tensor): TokenizerStepMetrics {
  const model = s.model;
  if (!(model instanceof AutoencoderKL)) throw new Error('klTrainStep: expected an AutoencoderKL');
  return torch.tidy(() => {
    model.train();
    const { recon, posterior } = model.forward(images, s.generator);
    const [, C, H, W] = images.shape;
    const kl = klLoss(posterior, C * H * W);
    const m = generatorUpdate(s, images, recon, kl.mul(s.opts.klWeight), model.decoder.lastLayer);
    return { ...m, kl: kl.item() };
  });
}

/** Shared tail of both steps: pixel loss + `extra` (+ GAN), AdamW on the tokenizer, then the discriminator. */
function generatorUpdate(
  s: TokenizerTrainState,
  images: Tensor,
  recon: Tensor,
  extra: Tensor,
  lastLayer: Tensor,
): TokenizerStepMetrics {
  const { opts } = s;
  const rec = reconstructionLoss(images, recon, opts.recLoss).mul(opts.recWeight);
  let loss = rec.add(extra);
  let perceptual: number | undefined;
  if (s.perceptual && opts.perceptualWeight) {
    const p = perceptualLoss(images, recon, s.perceptual).mul(opts.perceptualWeight);
    perceptual = p.item();
    loss = loss.add(p);
  }
  const lr = tokenizerLr(s);
  s.opt.setLr(lr);
  s.optD?.setLr(lr);
  const ganOn = s.disc !== null && opts.gan !== null && ganWeight(opts.gan.weight, s.step, opts.gan.start) > 0;
  let gen: number | undefined;
  let adaptive: number | undefined;
  if (ganOn && s.disc && opts.gan) {
    s.disc.train();
    const g = hingeGenLoss(s.disc.forward(recon));
    adaptive = opts.gan.adaptive ? adaptiveGanWeight(rec, g, lastLayer) : 1;
    const weighted = g.mul(adaptive * opts.gan.weight);
    gen = weighted.item();
    loss = loss.add(weighted);
  }
  s.opt.zeroGrad();
  s.sync?.model.arm();
  loss.backward();
  s.sync?.model.finish();
  const params = s.model.parameters();
  const gradNorm = opts.maxGradNorm > 0 ? clipGradNorm_(params, opts.maxGradNorm) : gradNormOf(params);
  s.opt.step();

  let disc: number | undefined;
  if (ganOn && s.disc && s.optD && opts.gan) {
    s.optD.zeroGrad(); // drops the gradient the generator loss left on the discriminator
    const d = hingeDLoss(s.disc.forward(images.detach()), s.disc.forward(recon.detach())).mul(opts.gan.weight);
    s.sync?.disc?.arm();
    d.backward();
    s.sync?.disc?.finish();
    if (opts.maxGradNorm > 0) clipGradNorm_(s.disc.parameters(), opts.maxGradNorm);
    s.optD.step();
    disc = d.item();
  }
  s.step += 1;
  return {
    step: s.step,
    loss: loss.item(),
    rec: rec.item(),
    psnr: psnr(images, recon.detach()),
    gradNorm,
    gen,
    disc,
    ganWeight: adaptive,
    perceptual,
    lr,
  };
}

/** The learning rate of the step about to be taken (constant unless the options set a schedule). */
export function tokenizerLr(s: Pick<TokenizerTrainState, 'opts' | 'step' | 'totalSteps'>): number {
  const { opts } = s;
  const kind = opts.schedule ?? 'constant';
  const total = kind === 'cosine' ? s.totalSteps : Number.POSITIVE_INFINITY;
  return lrAt(s.step, { baseLr: opts.lr, warmup: opts.warmup ?? 0, total, kind, minLr: opts.minLr ?? 0 });
}
