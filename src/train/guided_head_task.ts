// `d2c train guided-head`: distils a trained stage 2's classifier-free guidance into a second
// diffusion head (DiffLoss.guided_net) that takes the guidance scale as an input, so that sampling
// runs the transformer and the head on conditional rows only. The teacher (the whole stage 2, its
// EMA weights) is frozen; the student starts as a copy of its head with a zero guidance embedding.
import type { MAR } from '../generators/mar.ts';
import type { Module } from '../nn/module.ts';
import { loadTokenCache } from '../pipeline/cache.ts';
import { type PartConfig, partWeights, readPartConfig, resolveConfig } from '../pipeline/parts.ts';
import * as torch from '../torch/index.ts';
import type { DataParallel } from './data_parallel.ts';
import { cacheTrainable, type Recipe, startCacheRun } from './recipe.ts';
import { checkStage2Cache, posteriorLatents } from './stage2_task.ts';
import type { Trainable } from './trainer.ts';

export const GUIDED_HEAD_RECIPE: Recipe = {
  steps: 2000,
  batchSize: 32,
  lr: 2e-4,
  warmup: 100,
  schedule: 'cosine',
  minLr: 1e-5,
  weightDecay: 0,
  betas: [0.9, 0.95],
  gradClip: 3,
  // a short run: at 0.999 the average still held 37 % of the initial (unguided) head at step 1,000
  emaDecay: 0.995,
  seed: 0,
};

/**
 * The part config of a distillation run from a trained stage 2 (a stage-2 checkpoint or part
 * folder): its config with the distilled head added, and the teacher recorded in the recipe.
 */
export function guidedHeadPart(teacherDir: string, maxCfg?: number): PartConfig {
  const pc = readPartConfig(teacherDir);
  if (pc.kind !== 'mar') throw new Error(`${teacherDir} holds a ${pc.kind} model, not a stage-2 MAR`);
  if (pc.config.guidedHead) throw new Error(`${teacherDir} already has a distilled head`);
  return {
    ...pc,
    // over its preset, as loadPart reads it: a converted checkpoint saves only the fields it could read
    config: resolveConfig('mar', pc.preset, {
      ...pc.config,
      guidedHead: true,
      ...(maxCfg !== undefined ? { guidedHeadMaxCfg: maxCfg } : {}),
    }),
    // the teacher's own command stays on record (the model card lists both)
    recipe: {
      command: process.argv.slice(2).join(' '),
      teacher: teacherDir,
      ...(pc.recipe?.command ? { teacherCommand: pc.recipe.command } : {}),
    },
  };
}

/**
 * Loads the teacher's weights into the fresh model, copies its head into the student and freezes
 * the rest; without a teacher (a resumed run, whose checkpoint holds them all) it only freezes.
 */
function fromTeacher(teacherDir: string | null): (model: Module) => void {
  return (model) => {
    const mar = model as MAR;
    const student = mar.diffloss.guided_net;
    if (!student) throw new Error('guided-head: the model has no distilled head to train');
    if (teacherDir)
      torch.tidy(() => {
        const sd = partWeights(teacherDir);
        for (const [k, t] of sd) if (k.startsWith('diffloss.net.')) sd.set(k.replace('diffloss.net.', 'diffloss.guided_net.'), t);
        const { missing } = model.loadStateDict(sd, false);
        // everything but the student's guidance embedding comes from the teacher
        const fresh = missing.filter((k) => !k.startsWith('diffloss.guided_net.guidance_embed.'));
        if (fresh.length > 0) throw new Error(`${teacherDir}: missing weights ${fresh.slice(0, 5).join(', ')}`);
      });
    const trainable = new Set(student.parameters());
    for (const p of model.parameters()) p.requiresGrad = trainable.has(p);
  };
}

export function guidedHeadTask(
  cacheDir: string,
  part: PartConfig,
  recipe: Recipe,
  opts: { device?: string; dp?: DataParallel | null; resume?: boolean } = {},
): Trainable & { model: MAR } {
  const teacher = (part.recipe as { teacher?: string } | undefined)?.teacher;
  if (!teacher) throw new Error('guided-head: the run names no teacher (recipe.teacher)');
  const { meta, data } = loadTokenCache(cacheDir);
  checkStage2Cache(part, meta, "guided-head: the stage 2's");
  const fused = (part.config as { fusion: string }).fusion !== 'none';
  const run = startCacheRun('mar', part, recipe, data, opts.device, opts.dp, fromTeacher(opts.resume ? null : teacher));
  const model = run.model as MAR;
  model.eval(); // the teacher runs as it samples: no dropout, no condition dropping or corruption
  const { o, batches } = run;
  const scale = meta.scaleFactor;
  return {
    model,
    ...cacheTrainable(o, batches, (b) =>
      model.distillLoss(posteriorLatents(b, scale, o.generator), b.labels, fused ? b.codes : null, o.generator),
    ),
  };
}
