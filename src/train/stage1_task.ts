// `d2c train stage1`: the LlamaGen-style GPT on cached VQ codes (next-token cross-entropy with
// class dropout for CFG), as LlamaGen's train_c2i.py on its extracted codes.
import type { GPT } from '../generators/gpt.ts';
import { loadTokenCache } from '../pipeline/cache.ts';
import type { PartConfig } from '../pipeline/parts.ts';
import type { DataParallel } from './data_parallel.ts';
import { cacheTrainable, type Recipe, startCacheRun } from './recipe.ts';
import type { Trainable } from './trainer.ts';

export const STAGE1_RECIPE: Recipe = {
  steps: 6000,
  batchSize: 64,
  lr: 4e-4,
  warmup: 300,
  schedule: 'cosine',
  minLr: 2e-5,
  weightDecay: 0.05,
  betas: [0.9, 0.95],
  gradClip: 1,
  emaDecay: 0.999,
  seed: 0,
};

export function stage1Task(
  cacheDir: string,
  part: PartConfig,
  recipe: Recipe,
  opts: { device?: string; dp?: DataParallel | null } = {},
): Trainable & { model: GPT } {
  const { meta, data } = loadTokenCache(cacheDir);
  const cfg = part.config as { vocabSize: number; blockSize: number; numClasses: number };
  if (cfg.vocabSize !== meta.codebookSize)
    throw new Error(`stage1: vocabSize ${cfg.vocabSize} ≠ the cache's codebook size ${meta.codebookSize}`);
  if (cfg.blockSize !== meta.grid * meta.grid)
    throw new Error(`stage1: blockSize ${cfg.blockSize} ≠ the cache's ${meta.grid}×${meta.grid} grid`);
  if (cfg.numClasses !== meta.classes.length)
    throw new Error(`stage1: numClasses ${cfg.numClasses} ≠ the cache's ${meta.classes.length} classes`);
  const run = startCacheRun('gpt', part, recipe, data, opts.device, opts.dp);
  const model = run.model as GPT;
  const { o, batches } = run;
  return {
    model,
    ...cacheTrainable(o, batches, (b) => model.loss(b.codes, b.labels, o.generator)),
  };
}
