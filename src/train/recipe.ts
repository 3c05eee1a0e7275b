// What the generator trainings share: the recipe (optimizer, schedule, EMA, clipping, seed),
// AdamW with the no-decay grouping, the EMA, and checkpoint save/load of all of it.
import type { Module } from '../nn/module.ts';
import { AdamW, type ParamGroupSpec, paramGroupsNoDecay } from '../optim/adamw.ts';
import { clipGradNorm_, gradNorm } from '../optim/clip.ts';
import { EMA } from '../optim/ema.ts';
import { type LrScheduleKind, lrAt } from '../optim/schedule.ts';
import { buildPart, type PartConfig } from '../pipeline/parts.ts';
import type { Generator, Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';
import { type CacheBatch, CacheBatches, type CacheBatchState } from './cache_batches.ts';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.ts';
import type { DataParallel, GradAverager } from './data_parallel.ts';
import type { Trainable, TrainState } from './trainer.ts';

export interface Recipe {
  steps: number;
  batchSize: number;
  lr: number;
  warmup: number;
  schedule: LrScheduleKind;
  minLr: number;
  weightDecay: number;
  betas: [number, number];
  /** Global-norm clipping (0: off). */
  gradClip: number;
  emaDecay: number;
  seed: number;
  /** Compute precision of the forward pass (autocast); absent: fp32. Saved, so --resume keeps it. */
  precision?: torch.Precision;
}

export function checkRecipe(r: Recipe): Recipe {
  const pos = (k: keyof Recipe) => {
    const v = r[k] as number;
    if (!(typeof v === 'number' && v > 0 && Number.isFinite(v)))
      throw new Error(`recipe: ${k} must be a positive number, got ${JSON.stringify(v)}`);
  };
  for (const k of ['steps', 'batchSize', 'lr'] as const) pos(k);
  if (!Number.isInteger(r.steps) || !Number.isInteger(r.batchSize))
    throw new Error('recipe: steps and batchSize must be integers');
  if (!(r.emaDecay >= 0 && r.emaDecay < 1)) throw new Error(`recipe: emaDecay must be in [0, 1), got ${r.emaDecay}`);
  if (r.schedule !== 'constant' && r.schedule !== 'cosine')
    throw new Error(`recipe: schedule must be constant|cosine, got ${r.schedule}`);
  if (r.precision !== undefined && !torch.PRECISIONS.includes(r.precision))
    throw new Error(`recipe: precision must be ${torch.PRECISIONS.join('|')}, got ${r.precision}`);
  return r;
}

/** A model whose parameters train at different rates (MAR's fusionLrScale): the multiplier of each. */
interface LrScaled {
  lrScaleOf(name: string): number;
}

/**
 * Splits each group by its parameters' LR multipliers; groups stay as they were when every
 * multiplier is 1, so the optimizer state of older checkpoints still lines up.
 */
export function withLrScales(groups: ParamGroupSpec[], scaleOf: (name: string) => number): ParamGroupSpec[] {
  const out: ParamGroupSpec[] = [];
  for (const g of groups) {
    const byScale = new Map<number, ParamGroupSpec>();
    g.params.forEach((p, i) => {
      const name = g.names?.[i] ?? '';
      const scale = scaleOf(name);
      const sub = byScale.get(scale) ?? { ...g, params: [], names: [], lrScale: (g.lrScale ?? 1) * scale };
      byScale.set(scale, sub);
      sub.params.push(p);
      sub.names?.push(name);
    });
    out.push(...[...byScale.values()].sort((a, b) => (a.lrScale ?? 1) - (b.lrScale ?? 1)));
  }
  return out;
}

/** Model + AdamW + EMA + the one seeded generator of a training run. */
export class Optimization {
  readonly opt: AdamW;
  readonly ema: EMA;
  readonly generator: Generator;
  /** Data-parallel runs: averages the gradients over the ranks during/after backward. */
  private readonly sync: GradAverager | null;

  constructor(
    readonly model: Module,
    readonly recipe: Recipe,
    readonly partConfig: PartConfig,
    /** Where the model lives (it is moved there before this is built); the run's draws are made there. */
    readonly device = 'cpu',
    /** This process's part of a data-parallel job: gradients are averaged and draws sharded over it. */
    dp: DataParallel | null = null,
  ) {
    checkRecipe(recipe);
    const groups = paramGroupsNoDecay(model, recipe.weightDecay);
    const scaled = 'lrScaleOf' in model ? withLrScales(groups, (model as LrScaled).lrScaleOf.bind(model)) : groups;
    this.opt = new AdamW(scaled, { lr: recipe.lr, betas: recipe.betas });
    this.ema = new EMA(model, recipe.emaDecay);
    this.generator = new torch.Generator(recipe.seed, device);
    this.sync = dp ? dp.gradSync(model.parameters()) : null;
    if (dp) dp.shardGenerator(this.generator);
  }

  /** zero grads → backward(loss) → clip → lr for `step` → AdamW → EMA; returns the grad norm. */
  update(loss: Tensor, step: number): { gradNorm: number; lr: number } {
    const r = this.recipe;
    const lr = lrAt(step, { baseLr: r.lr, warmup: r.warmup, total: r.steps, kind: r.schedule, minLr: r.minLr });
    this.opt.zeroGrad();
    this.sync?.arm();
    loss.backward();
    this.sync?.finish();
    const params = this.model.parameters();
    const norm = r.gradClip > 0 ? clipGradNorm_(params, r.gradClip) : gradNorm(params);
    this.opt.setLr(lr);
    this.opt.step();
    this.ema.update();
    return { gradNorm: norm, lr };
  }

  save(dir: string, state: TrainState): void {
    saveCheckpoint(dir, {
      config: { ...this.partConfig, recipe: { ...this.partConfig.recipe, ...this.recipe } } as unknown as Record<string, unknown>,
      model: this.model,
      ema: this.ema,
      optimizer: this.opt,
      trainer: { step: state.step, epoch: state.epoch, data: state.data, generators: { main: this.generator } },
    });
  }

  load(dir: string): TrainState {
    const { trainer } = loadCheckpoint(dir, {
      model: this.model,
      ema: this.ema,
      optimizer: this.opt,
      generators: { main: this.generator },
    });
    if (!trainer) throw new Error(`${dir}: no trainer.json to resume from`);
    return { step: trainer.step, epoch: trainer.epoch, data: trainer.data };
  }
}

/**
 * A seeded model of `kind` (its initial weights are part of the run: drawn on the CPU, then moved
 * to `device`, so they are the same on every device), its optimisation and batches.
 */
export function startCacheRun(
  kind: 'gpt' | 'mar',
  part: PartConfig,
  recipe: Recipe,
  data: ConstructorParameters<typeof CacheBatches>[0],
  device = 'cpu',
  dp: DataParallel | null = null,
  /** Changes the built model before its optimisation is set up (loading and freezing a teacher). */
  prepare?: (model: Module) => void,
): { model: Module; o: Optimization; batches: CacheBatches } {
  torch.manualSeed(recipe.seed);
  const model = buildPart(kind, part.config);
  prepare?.(model);
  if (device !== 'cpu') model.to(device);
  model.train();
  dp?.syncModules(model);
  const batches = new CacheBatches(data, recipe.batchSize, recipe.seed, true, dp?.shard);
  return { model, o: new Optimization(model, recipe, part, device, dp), batches };
}

/**
 * The Trainable of a generator trained on a token cache: `loss(batch)` is the model's objective;
 * optimisation, checkpoints and the batch position are shared by stage 1 and stage 2.
 */
export function cacheTrainable(o: Optimization, batches: CacheBatches, loss: (b: CacheBatch) => Tensor): Trainable {
  return {
    step(step: number) {
      return torch.tidy(() => {
        const b = onDevice(batches.next(), o.device);
        const l = torch.autocast(o.recipe.precision ?? 'fp32', () => loss(b));
        const { gradNorm, lr } = o.update(l, step);
        return { loss: l.item(), grad_norm: gradNorm, lr };
      });
    },
    save: (dir: string, s: TrainState) => o.save(dir, s),
    load(dir: string) {
      const s = o.load(dir);
      batches.restore(s.data as CacheBatchState);
      return s;
    },
    dataState: () => ({ epoch: batches.state().epoch, data: batches.state() }),
  };
}

/** The batch on `device`: each tensor moved once per batch (CPU batches pass through). */
function onDevice(b: CacheBatch, device: string): CacheBatch {
  if (device === 'cpu') return b;
  return { codes: b.codes.to(device), mean: b.mean.to(device), std: b.std.to(device), labels: b.labels.to(device) };
}
