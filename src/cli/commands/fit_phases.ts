// What each phase of `d2c fit` does, how it knows it is done and how it resumes; the table that
// orders them is in fit.ts. Everything a phase needs is in `FitRun`, made once per command.
import { existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageSet } from '../../data/dataset.ts';
import { saveImages } from '../../data/png.ts';
import { writeFileAtomic } from '../../io/atomic_file.ts';
import { readJsonFile } from '../../io/json_file.ts';
import { buildTokenCache, readCacheMeta } from '../../pipeline/cache.ts';
import { D2C } from '../../pipeline/d2c.ts';
import { loadPart, type PartConfig, type PartKind, resolveConfig } from '../../pipeline/parts.ts';
import type { AutoencoderKL } from '../../tokenizers/kl.ts';
import type { VQModel } from '../../tokenizers/vq.ts';
import * as torch from '../../torch/index.ts';
import { resolveCheckpointDir } from '../../train/checkpoint.ts';
import { type FitPlan, fitGeneratorRecipe, fitTokenizerRecipe } from '../../train/fit_recipe.ts';
import { classCountFromCache } from '../../train/infer.ts';
import { stage1Task } from '../../train/stage1_task.ts';
import { stage2Task } from '../../train/stage2_task.ts';
import type { StopSignal } from '../../train/stop.ts';
import { tokenizerTask } from '../../train/tokenizer_task.ts';
import { runTraining, type Trainable } from '../../train/trainer.ts';
import { UsageError } from '../errors.ts';
import { progressBar } from '../progress.ts';
import { packModel } from './pack.ts';
import { saveLabelledGrid } from './sample_grid.ts';

/** runs/fit.json: what the runs in MODEL/runs were made from. */
export interface FitRecord {
  data: string;
  size: number;
  seed: number;
  /** Tokenizer steps the cache was built from ("vq:kl"); each generator's cache stamp. */
  cache?: string;
  stage1?: string;
  stage2?: string;
  /** Compute precision of every phase (absent in records written before it existed: fp32). */
  precision?: torch.Precision;
}

export interface FitRun {
  out: string;
  seed: number;
  perClass: number;
  set: ImageSet;
  plan: FitPlan;
  dirs: { vq: string; kl: string; cache: string; stage1: string; stage2: string };
  record: FitRecord;
  recordPath: string;
  stop: StopSignal;
  /** The `[i/n] phase` label of a phase, for messages and progress bars. */
  label(name: string): string;
  /** The command line, kept in each part's recipe. */
  command: string;
  /** Classifier folder for the tokenizers' perceptual loss (none: the loss is off). */
  perceptualNet?: string;
  /** Where every phase runs (--device, checked) and in what precision. */
  device: string;
  precision: torch.Precision;
}

export function readRecord(path: string): FitRecord | null {
  if (!existsSync(path)) return null;
  try {
    return readJsonFile(path) as FitRecord;
  } catch (e) {
    throw new UsageError(`${(e as Error).message}; delete it to start the runs afresh`);
  }
}

export function saveRecord(r: FitRun): void {
  writeFileAtomic(r.recordPath, `${JSON.stringify(r.record, null, 2)}\n`);
}

function say(r: FitRun, name: string, text: string): void {
  process.stderr.write(`${r.label(name)}: ${text}\n`);
}

/** The step a checkpoint folder was saved at, or null without one. */
function savedStep(dir: string): number | null {
  let root: string;
  try {
    root = resolveCheckpointDir(dir); // also recovers a save that died between its renames
  } catch {
    return null;
  }
  const path = join(root, 'trainer.json');
  if (!existsSync(path)) return null;
  return (readJsonFile(path) as { step: number }).step;
}

// ---- trainings: done at their step count; resume from their last checkpoint ----

type Training = 'vq' | 'kl' | 'stage1' | 'stage2';

export function trained(part: Training): (r: FitRun) => string | null {
  return (r) => {
    const at = savedStep(r.dirs[part]);
    return at !== null && at >= r.plan.steps[part] ? `done (${at} steps) in ${r.dirs[part]}` : null;
  };
}

/** Runs (or resumes) one training; false when it stopped on a request. */
async function train(r: FitRun, name: string, part: Training, task: () => Promise<Trainable> | Trainable): Promise<boolean> {
  const dir = r.dirs[part];
  const steps = r.plan.steps[part];
  const at = savedStep(dir);
  say(r, name, at !== null ? `resuming at step ${at} of ${steps} in ${dir}` : `${steps} steps → ${dir}`);
  const t = await task();
  if (r.stop.requested) {
    await t.close?.();
    return false;
  }
  const result = await runTraining(t, {
    steps,
    outDir: dir,
    resume: at !== null,
    logEvery: Math.max(1, Math.min(50, Math.floor(steps / 10))),
    saveEvery: Math.max(1, Math.min(500, Math.floor(steps / 4))),
    label: r.label(name),
    stop: r.stop,
  });
  return !result.interrupted;
}

export function trainTokenizer(kind: 'vq' | 'kl', name: string): (r: FitRun) => Promise<boolean> {
  return (r) =>
    train(r, name, kind, () => {
      const preset = r.plan.presets[kind];
      const part: PartConfig = { kind, preset, config: resolveConfig(kind as PartKind, preset), recipe: { command: r.command } };
      const recipe = { ...fitTokenizerRecipe(kind, r.plan, r.seed, r.perceptualNet !== undefined), precision: r.precision };
      return tokenizerTask(r.set, part, recipe, { perceptualNet: r.perceptualNet, device: r.device });
    });
}

export function trainGenerator(part: 'stage1' | 'stage2', name: string): (r: FitRun) => Promise<boolean> {
  return (r) =>
    train(r, name, part, () => {
      const kind = part === 'stage1' ? 'gpt' : 'mar';
      const preset = r.plan.presets[kind];
      const extra = part === 'stage2' ? { fusion: 'add' } : {};
      const classes = classCountFromCache(kind, readCacheMeta(r.dirs.cache), {});
      const config = resolveConfig(kind, preset, { ...classes, ...extra });
      const pc: PartConfig = { kind, preset, config, recipe: { command: r.command } };
      const recipe = { ...fitGeneratorRecipe(part, r.plan, r.seed), precision: r.precision };
      const opts = { device: r.device };
      return part === 'stage1' ? stage1Task(r.dirs.cache, pc, recipe, opts) : stage2Task(r.dirs.cache, pc, recipe, opts);
    });
}

// ---- the token cache: done when built from the current tokenizers; rebuilt whole ----

function tokenizerStamp(r: FitRun): string {
  return `${savedStep(r.dirs.vq)}:${savedStep(r.dirs.kl)}`;
}

function cacheCurrent(r: FitRun): boolean {
  return r.record.cache === tokenizerStamp(r) && existsSync(join(r.dirs.cache, 'meta.json'));
}

/** Done when the cache is current and both generators' checkpoints were started on it. */
export function cacheDone(r: FitRun): string | null {
  const generatorsOnIt = r.record.stage1 === r.record.cache && r.record.stage2 === r.record.cache;
  return cacheCurrent(r) && generatorsOnIt ? `done in ${r.dirs.cache}` : null;
}

/** Builds the cache unless current, then moves generators trained on another cache aside. */
export async function buildCache(r: FitRun, name: string): Promise<boolean> {
  if (!cacheCurrent(r)) {
    say(r, name, `encoding ${r.set.labels.length} images and their flips → ${r.dirs.cache}`);
    const vq = loadPart<VQModel>(r.dirs.vq, { device: r.device });
    const kl = loadPart<AutoencoderKL>(r.dirs.kl, { device: r.device });
    const bar = progressBar(r.label(name));
    const { vq: vqDir, kl: klDir, cache: outDir } = r.dirs;
    const shape = { batchSize: 50, shardSize: 50 * 40 };
    await buildTokenCache({
      vq: vq.model,
      kl: kl.model,
      vqDir,
      klDir,
      set: r.set,
      outDir,
      ...shape,
      onProgress: (d, t) => bar.update(d, t),
    });
    bar.done();
    r.record.cache = tokenizerStamp(r);
    saveRecord(r);
  }
  for (const part of ['stage1', 'stage2'] as const) {
    if (r.record[part] === r.record.cache) continue;
    retire(r.dirs[part]);
    r.record[part] = r.record.cache;
    saveRecord(r);
  }
  return true;
}

/** Moves a generator checkpoint trained on an older cache aside (kept, not deleted). */
function retire(dir: string): void {
  if (!existsSync(dir)) return;
  rmSync(`${dir}.stale`, { recursive: true, force: true });
  renameSync(dir, `${dir}.stale`);
  process.stderr.write(`note: ${dir} was trained on an older token cache; moved to ${dir}.stale, training afresh\n`);
}

// ---- the model folder and its samples: done when newer than what they are made from; redone whole ----

function modifiedMs(path: string): number {
  return existsSync(path) ? statSync(path).mtimeMs : Number.NaN;
}

function checkpointTime(dir: string): number {
  return savedStep(dir) === null ? Number.NaN : modifiedMs(join(dir, 'trainer.json'));
}

/** `path` exists and is newer than every one of `from` (NaN compares false, so a missing file is not done). */
function newerThan(path: string, from: number[]): string | null {
  const t = modifiedMs(path);
  return from.every((f) => t >= f) ? `done (${path})` : null;
}

export function packed(r: FitRun): string | null {
  const parts = [r.dirs.vq, r.dirs.kl, r.dirs.stage1, r.dirs.stage2].map(checkpointTime);
  return newerThan(join(r.out, 'd2c.json'), parts);
}

export function pack(r: FitRun, name: string): Promise<boolean> {
  say(r, name, `→ ${r.out}`);
  const modelName = r.out.replace(/\/+$/, '').split('/').pop() || 'd2c-model';
  packModel({ ...r.dirs, out: r.out, name: modelName, fp16: false, keepOthers: true });
  return Promise.resolve(true);
}

export function sampled(r: FitRun): string | null {
  return newerThan(join(r.out, 'samples.png'), [modifiedMs(join(r.out, 'd2c.json'))]);
}

/** A labelled grid of `perClass` samples of every class, and each sample as its own PNG. */
export async function sample(r: FitRun, name: string): Promise<boolean> {
  const png = join(r.out, 'samples.png');
  say(r, name, `${r.perClass} per class → ${png}`);
  const model = D2C.fromPretrained(r.out, { device: r.device, precision: r.precision });
  const classes = model.classes.flatMap((_, c) => Array.from({ length: r.perClass }, () => c));
  const bar = progressBar(r.label(name));
  const out = model.generate({ classes, seed: r.seed }, (p) => bar.update(p.step, p.total, p.stage));
  bar.done();
  const single = join(r.out, 'samples');
  rmSync(single, { recursive: true, force: true });
  const fileName = (i: number) =>
    `${model.classes[classes[i]].replace(/[^\w-]+/g, '_')}_${String(i % r.perClass).padStart(2, '0')}.png`;
  await saveImages(out.images, (i) => join(single, fileName(i)));
  // Written last: its time says the samples are complete.
  await saveLabelledGrid(out.images, png, { labels: model.classes, perRow: r.perClass });
  torch.dispose([out.images, out.preview, out.codes]);
  return true;
}
