// `d2c train stage2`: MAR with its diffusion head on cached KL latents, conditioned on the class
// and (with a fusion) on the ground-truth VQ codes of the same image (DESIGN: D2C stage 2).
// Latents are drawn from the cached posterior each step and scaled, as MAR's main_mar.py does.
import type { MAR } from '../generators/mar.ts';
import { loadTokenCache } from '../pipeline/cache.ts';
import type { PartConfig } from '../pipeline/parts.ts';
import * as torch from '../torch/index.ts';
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

export function stage2Task(cacheDir: string, part: PartConfig, recipe: Recipe): Trainable & { model: MAR } {
  const { meta, data } = loadTokenCache(cacheDir);
  const cfg = part.config as { vaeEmbedDim: number; codebookSize: number; classNum: number; fusion: string };
  if (cfg.vaeEmbedDim !== meta.latentChannels)
    throw new Error(`stage2: vaeEmbedDim ${cfg.vaeEmbedDim} ≠ the cache's ${meta.latentChannels} latent channels`);
  if (cfg.fusion !== 'none' && cfg.codebookSize !== meta.codebookSize)
    throw new Error(`stage2: codebookSize ${cfg.codebookSize} ≠ the cache's ${meta.codebookSize}`);
  const side = (cfg as unknown as { imgSize: number; vaeStride: number }).imgSize;
  if (meta.imageSize !== undefined && side !== meta.imageSize)
    throw new Error(`stage2: imgSize ${side} ≠ the cache's ${meta.imageSize}×${meta.imageSize} images`);
  if (cfg.classNum !== meta.classes.length)
    throw new Error(`stage2: classNum ${cfg.classNum} ≠ the cache's ${meta.classes.length} classes`);
  const run = startCacheRun('mar', part, recipe, data);
  const model = run.model as MAR;
  const { o, batches } = run;
  const scale = meta.scaleFactor;
  return {
    model,
    ...cacheTrainable(o, batches, (b) => {
      const eps = torch.randn(b.mean.shape, { generator: o.generator });
      const latents = b.mean.add(b.std.mul(eps)).mul(scale); // a posterior sample, scaled
      return model.forward(latents, b.labels, cfg.fusion === 'none' ? null : b.codes, o.generator);
    }),
  };
}
