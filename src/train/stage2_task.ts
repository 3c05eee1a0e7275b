// `d2c train stage2`: MAR with its diffusion head on cached KL latents, conditioned on the class
// and (with a fusion) on the ground-truth VQ codes of the same image (DESIGN: D2C stage 2).
// Latents are drawn from the cached posterior each step and scaled, as MAR's main_mar.py does.
// With code mixing (config codeMixRate > 0) a trained stage-1 GPT draws its own codes under
// teacher forcing, one forward pass per batch, and they replace the real ones at that rate.
import { mixCodes } from '../generators/fusion.ts';
import type { GPT } from '../generators/gpt.ts';
import { teacherForcedSample } from '../generators/gpt_sample.ts';
import type { MAR } from '../generators/mar.ts';
import { type CacheMeta, loadTokenCache } from '../pipeline/cache.ts';
import { loadPart, type PartConfig } from '../pipeline/parts.ts';
import * as torch from '../torch/index.ts';
import type { CacheBatch } from './cache_batches.ts';
import type { DataParallel } from './data_parallel.ts';
import { cacheTrainable, type Recipe, startCacheRun } from './recipe.ts';
import type { Trainable } from './trainer.ts';

export const STAGE2_RECIPE: Recipe = {
  steps: 6000,
  batchSize: 64,
  lr: 4e-4,
  warmup: 300,
  schedule: 'cosine',
  minLr: 2e-5,
  weightDecay: 0.02,
  betas: [0.9, 0.95],
  gradClip: 3,
  emaDecay: 0.999,
  seed: 0,
};

export function stage2Task(
  cacheDir: string,
  part: PartConfig,
  recipe: Recipe,
  opts: { mixStage1?: string; device?: string; dp?: DataParallel | null } = {},
): Trainable & { model: MAR } {
  const { meta, data } = loadTokenCache(cacheDir);
  const cfg = part.config as {
    vaeEmbedDim: number;
    codebookSize: number;
    classNum: number;
    fusion: string;
    codeMixRate?: number;
  };
  const mixer = codeMixer(cfg.codeMixRate ?? 0, cfg.fusion, opts.mixStage1, meta.codebookSize, opts.device);
  checkStage2Cache(part, meta, 'stage2:');
  const run = startCacheRun('mar', part, recipe, data, opts.device, opts.dp);
  const model = run.model as MAR;
  const { o, batches } = run;
  const scale = meta.scaleFactor;
  return {
    model,
    ...cacheTrainable(o, batches, (b) => {
      const latents = posteriorLatents(b, scale, o.generator);
      const codes = cfg.fusion === 'none' ? null : mixer ? mixer(b.codes, b.labels, o.generator) : b.codes;
      return model.forward(latents, b.labels, codes, o.generator);
    }),
  };
}

/** A stage 2's config against the token cache it trains on, each mismatch named (`who` opens the message). */
export function checkStage2Cache(part: PartConfig, meta: CacheMeta, who: string): void {
  const cfg = part.config as { vaeEmbedDim: number; codebookSize: number; classNum: number; fusion: string; imgSize: number };
  if (cfg.vaeEmbedDim !== meta.latentChannels)
    throw new Error(`${who} vaeEmbedDim ${cfg.vaeEmbedDim} ≠ the cache's ${meta.latentChannels} latent channels`);
  if (cfg.fusion !== 'none' && cfg.codebookSize !== meta.codebookSize)
    throw new Error(`${who} codebookSize ${cfg.codebookSize} ≠ the cache's ${meta.codebookSize}`);
  if (meta.imageSize !== undefined && cfg.imgSize !== meta.imageSize)
    throw new Error(`${who} imgSize ${cfg.imgSize} ≠ the cache's ${meta.imageSize}×${meta.imageSize} images`);
  if (cfg.classNum !== meta.classes.length)
    throw new Error(`${who} classNum ${cfg.classNum} ≠ the cache's ${meta.classes.length} classes`);
}

/** A sample of each image's cached KL posterior, scaled as MAR's main_mar.py scales latents. */
export function posteriorLatents(b: CacheBatch, scale: number, generator: torch.Generator): torch.Tensor {
  const eps = torch.randn(b.mean.shape, { generator, device: b.mean.device, batchDim: 0 });
  return b.mean.add(b.std.mul(eps)).mul(scale);
}

/** The code-mixing step for a rate (null when off), with the stage-1 GPT it draws from. */
function codeMixer(
  rate: number,
  fusion: string,
  stage1Dir: string | undefined,
  codebookSize: number,
  device = 'cpu',
): ((codes: torch.Tensor, labels: torch.Tensor, g: torch.Generator) => torch.Tensor) | null {
  if (rate === 0) return null;
  if (fusion === 'none') throw new Error(`stage2: codeMixRate ${rate} needs a fusion (the model is conditioned on no codes)`);
  if (!stage1Dir) throw new Error(`stage2: codeMixRate ${rate} needs the stage-1 GPT to draw codes from (--mix-stage1 DIR)`);
  const { model, config } = loadPart<GPT>(stage1Dir, { device });
  if (config.kind !== 'gpt') throw new Error(`--mix-stage1 ${stage1Dir} holds a ${config.kind} model, not the stage-1 GPT`);
  if (model.config.vocabSize !== codebookSize)
    throw new Error(`--mix-stage1 ${stage1Dir}: its vocabulary of ${model.config.vocabSize} ≠ the cache's ${codebookSize} codes`);
  for (const p of model.parameters()) p.requiresGrad = false;
  return (codes, labels, g) => mixCodes(codes, teacherForcedSample(model, codes, labels, { generator: g }), rate, g);
}
