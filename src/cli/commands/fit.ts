// `d2c fit --data DIR --size 32|64 --out MODEL`: the whole D2C recipe on a user's ImageFolder —
// VQ and KL tokenizers, the token cache, the stage-1 GPT, the stage-2 MAR (`add` fusion, the
// study's best), the model folder and a sample grid of every class — with the colour presets of
// fit_recipe.ts. Each training checkpoints under MODEL/runs/<part>; run again, it skips what is
// done and resumes the rest. runs/fit.json records the data and size (a second run must match
// them) and which tokenizer steps the cache was built from, so a cache or generator left behind by
// retrained tokenizers is rebuilt, the stale generator checkpoint kept beside it as <part>.stale.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { ImageSet } from '../../data/dataset.ts';
import { openImageSet } from '../../data/open.ts';
import { saveImages } from '../../data/png.ts';
import { buildTokenCache, readCacheMeta } from '../../pipeline/cache.ts';
import { D2C } from '../../pipeline/d2c.ts';
import { loadPart, type PartConfig, type PartKind, resolveConfig } from '../../pipeline/parts.ts';
import type { AutoencoderKL } from '../../tokenizers/kl.ts';
import type { VQModel } from '../../tokenizers/vq.ts';
import * as torch from '../../torch/index.ts';
import { resolveCheckpointDir, writeFileAtomic } from '../../train/checkpoint.ts';
import { type FitPlan, fitGeneratorRecipe, fitPlan, fitTokenizerRecipe } from '../../train/fit_recipe.ts';
import { classCountFromCache } from '../../train/infer.ts';
import { stage1Task } from '../../train/stage1_task.ts';
import { stage2Task } from '../../train/stage2_task.ts';
import { tokenizerTask } from '../../train/tokenizer_task.ts';
import { runTraining, type Trainable } from '../../train/trainer.ts';
import { type DeviceFlags, deviceOption, type PrecisionFlags, precisionOption, runDevice } from '../device_options.ts';
import { UsageError } from '../errors.ts';
import { intOption, numberOption, positiveInt } from '../options.ts';
import { progressBar } from '../progress.ts';
import { packModel } from './pack.ts';
import { saveLabelledGrid } from './sample_grid.ts';

const PHASES = ['vq tokenizer', 'kl tokenizer', 'token cache', 'stage-1 GPT', 'stage-2 MAR', 'model folder', 'samples'];

interface FitOptions extends Partial<DeviceFlags>, PrecisionFlags {
  data: string;
  size: number;
  out: string;
  stepsScale: number;
  seed: number;
  threads: number;
  perClass: number;
}

/** runs/fit.json: what the runs in MODEL/runs were made from. */
interface FitRecord {
  data: string;
  size: number;
  seed: number;
  /** Tokenizer steps the cache was built from ("vq:kl"); each generator's cache stamp. */
  cache?: string;
  stage1?: string;
  stage2?: string;
}

function readRecord(path: string): FitRecord | null {
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as FitRecord;
  } catch (e) {
    throw new UsageError(`${path} is not valid JSON (${(e as Error).message}); delete it to start the runs afresh`);
  }
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
  return (JSON.parse(readFileSync(path, 'utf8')) as { step: number }).step;
}

/** Whether a runTraining loop (which handles Ctrl-C itself) is running; whether Ctrl-C was pressed. */
let training = false;
let stop = false;

function say(phase: number, text: string): void {
  process.stderr.write(`[${phase + 1}/${PHASES.length}] ${PHASES[phase]}: ${text}\n`);
}

/** Runs (or resumes, or skips when done) one training; returns whether it stopped on Ctrl-C. */
async function trainPhase(
  phase: number,
  dir: string,
  steps: number,
  task: () => Promise<Trainable> | Trainable,
): Promise<{ interrupted: boolean; ran: boolean }> {
  const at = savedStep(dir);
  if (at !== null && at >= steps) {
    say(phase, `done (${at} steps) in ${dir}`);
    return { interrupted: false, ran: false };
  }
  say(phase, at !== null ? `resuming at step ${at} of ${steps} in ${dir}` : `${steps} steps → ${dir}`);
  const t = await task();
  if (stop) {
    await t.close?.();
    return { interrupted: true, ran: false };
  }
  training = true;
  const r = await runTraining(t, {
    steps,
    outDir: dir,
    resume: at !== null,
    logEvery: Math.max(1, Math.min(50, Math.floor(steps / 10))),
    saveEvery: Math.max(1, Math.min(500, Math.floor(steps / 4))),
    label: `[${phase + 1}/${PHASES.length}] ${PHASES[phase]}`,
  }).finally(() => {
    training = false;
  });
  return { interrupted: r.interrupted, ran: true };
}

function generatorPart(kind: 'gpt' | 'mar', preset: string, cacheDir: string, extra: Record<string, unknown>): PartConfig {
  const classes = classCountFromCache(kind, readCacheMeta(cacheDir), {});
  return {
    kind,
    preset,
    config: resolveConfig(kind, preset, { ...classes, ...extra }),
    recipe: { command: process.argv.slice(2).join(' ') },
  };
}

function tokenizerPart(kind: PartKind, preset: string): PartConfig {
  return { kind, preset, config: resolveConfig(kind, preset), recipe: { command: process.argv.slice(2).join(' ') } };
}

/** Moves a generator checkpoint trained on an older cache aside (kept, not deleted). */
function retire(dir: string): void {
  if (!existsSync(dir)) return;
  rmSync(`${dir}.stale`, { recursive: true, force: true });
  renameSync(dir, `${dir}.stale`);
  process.stderr.write(`note: ${dir} was trained on an older token cache; moved to ${dir}.stale, training afresh\n`);
}

export async function fit(o: FitOptions): Promise<{ interrupted: boolean }> {
  torch.setNumThreads(o.threads);
  const device = runDevice(o.device ?? 'cpu');
  const precision = o.precision ?? 'fp32';
  const runs = join(o.out, 'runs');
  const recordPath = join(runs, 'fit.json');
  const data = resolve(o.data);
  const previous = readRecord(recordPath);
  if (previous && (previous.data !== data || previous.size !== o.size || previous.seed !== o.seed)) {
    throw new UsageError(
      `${o.out} was fit on --data ${previous.data} --size ${previous.size} --seed ${previous.seed}, ` +
        `not --data ${data} --size ${o.size} --seed ${o.seed}: use another --out, or the same flags to continue it`,
    );
  }
  let set: ImageSet;
  let plan: FitPlan;
  try {
    plan = fitPlan(o.size, o.stepsScale, 1);
    set = await openImageSet({ dataset: 'imagefolder', data: o.data, size: o.size, channels: 3 });
    plan = fitPlan(o.size, o.stepsScale, set.labels.length);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  // Written once the flags and the data are known to be good, so a mistyped run leaves nothing.
  const record: FitRecord = previous ?? { data, size: o.size, seed: o.seed };
  mkdirSync(runs, { recursive: true });
  const save = () => writeFileAtomic(recordPath, `${JSON.stringify(record, null, 2)}\n`);
  save();
  process.stderr.write(
    `fit: ${set.labels.length} images of ${set.classes.length} classes (${set.classes.join(', ')}) at ${o.size}×${o.size}×3; ` +
      `steps vq ${plan.steps.vq}, kl ${plan.steps.kl}, stage1 ${plan.steps.stage1}, stage2 ${plan.steps.stage2}; batch ${plan.batchSize}\n`,
  );
  // A Ctrl-C stops after the current phase (inside a training, runTraining saves and stops it);
  // a second one aborts.
  stop = false;
  const onSigint = () => {
    if (stop) process.exit(130);
    stop = true;
    if (!training) process.stderr.write('\ninterrupt: stopping after this phase (Ctrl-C again to abort)\n');
  };
  process.on('SIGINT', onSigint);
  const stopped = () => {
    if (stop) process.stderr.write(`fit: interrupted; run the same command again to continue\n`);
    return stop;
  };
  try {
    const dirs = {
      vq: join(runs, 'vq'),
      kl: join(runs, 'kl'),
      cache: join(runs, 'cache'),
      stage1: join(runs, 'stage1'),
      stage2: join(runs, 'stage2'),
    };
    for (const [i, kind] of (['vq', 'kl'] as const).entries()) {
      const r = await trainPhase(i, dirs[kind], plan.steps[kind], () =>
        tokenizerTask(
          set,
          tokenizerPart(kind, plan.presets[kind]),
          { ...fitTokenizerRecipe(kind, plan, o.seed), precision },
          { device },
        ),
      );
      if (r.interrupted || stopped()) return { interrupted: true };
    }

    const stamp = `${savedStep(dirs.vq)}:${savedStep(dirs.kl)}`;
    if (record.cache === stamp && existsSync(join(dirs.cache, 'meta.json'))) say(2, `done in ${dirs.cache}`);
    else {
      say(2, `encoding ${set.labels.length} images and their flips → ${dirs.cache}`);
      const vq = loadPart<VQModel>(dirs.vq, { device });
      const kl = loadPart<AutoencoderKL>(dirs.kl, { device });
      const bar = progressBar(`[3/${PHASES.length}] token cache`);
      await buildTokenCache({
        vq: vq.model,
        kl: kl.model,
        vqDir: dirs.vq,
        klDir: dirs.kl,
        set,
        outDir: dirs.cache,
        batchSize: 50,
        shardSize: 50 * 40,
        onProgress: (d, t) => bar.update(d, t),
      });
      bar.done();
      record.cache = stamp;
      save();
    }
    if (stopped()) return { interrupted: true };

    const generators = [
      { phase: 3, part: 'stage1', kind: 'gpt', extra: {} },
      { phase: 4, part: 'stage2', kind: 'mar', extra: { fusion: 'add' } },
    ] as const;
    let trained = false;
    for (const g of generators) {
      const dir = dirs[g.part];
      if (record[g.part] !== record.cache) {
        retire(dir);
        record[g.part] = record.cache;
        save();
      }
      const recipe = { ...fitGeneratorRecipe(g.part, plan, o.seed), precision };
      const r = await trainPhase(g.phase, dir, plan.steps[g.part], () => {
        const pc = generatorPart(g.kind, plan.presets[g.kind], dirs.cache, g.extra);
        return g.part === 'stage1'
          ? stage1Task(dirs.cache, pc, recipe, { device })
          : stage2Task(dirs.cache, pc, recipe, { device });
      });
      trained ||= r.ran;
      if (r.interrupted || stopped()) return { interrupted: true };
    }

    const modelJson = join(o.out, 'd2c.json');
    const samplesPng = join(o.out, 'samples.png');
    if (!trained && existsSync(modelJson) && existsSync(samplesPng)) {
      say(5, `done in ${o.out}`);
      say(6, `done: ${samplesPng}`);
      return { interrupted: false };
    }
    say(5, `→ ${o.out}`);
    packModel({
      vq: dirs.vq,
      kl: dirs.kl,
      stage1: dirs.stage1,
      stage2: dirs.stage2,
      cache: dirs.cache,
      out: o.out,
      name: o.out.replace(/\/+$/, '').split('/').pop() || 'd2c-model',
      fp16: false,
      stage1Cfg: 2,
      stage1Temperature: 1,
      topK: 0,
      topP: 1,
      stage2Cfg: 3,
      cfgSchedule: 'linear',
      stage2Temperature: 1,
      steps: 8,
      stage2Clip: 4,
      keepOthers: true,
    });

    say(6, `${o.perClass} per class → ${samplesPng}`);
    const model = D2C.fromPretrained(o.out, { device, precision });
    const classes = model.classes.flatMap((_, c) => Array.from({ length: o.perClass }, () => c));
    const bar = progressBar(`[7/${PHASES.length}] samples`);
    const r = model.generate({ classes, seed: o.seed }, (p) => bar.update(p.step, p.total, p.stage));
    bar.done();
    await saveLabelledGrid(r.images, samplesPng, { labels: model.classes, perRow: o.perClass });
    const single = join(o.out, 'samples');
    rmSync(single, { recursive: true, force: true });
    await saveImages(r.images, (i) =>
      join(single, `${model.classes[classes[i]].replace(/[^\w-]+/g, '_')}_${String(i % o.perClass).padStart(2, '0')}.png`),
    );
    torch.dispose([r.images, r.preview, r.codes]);
    process.stderr.write(`fit: done. Sample more with: d2c sample --model ${o.out} --class ${model.classes[0]} --n 16\n`);
    return { interrupted: false };
  } finally {
    process.off('SIGINT', onSigint);
  }
}

export function register(program: Command): void {
  precisionOption(deviceOption(program.command('fit')), 'compute precision of the trainings and the samples')
    .description('train a D2C model on your own ImageFolder (DIR/<class>/<image>), end to end')
    .requiredOption('--data <dir>', 'ImageFolder root: one sub-folder of JPEG/PNG/WebP images per class')
    .requiredOption('--out <dir>', 'model folder to write (checkpoints go to OUT/runs/; run again to continue)')
    .option('--size <n>', 'image side, 32 or 64', positiveInt('--size'), 32)
    .option(
      '--steps-scale <x>',
      'multiply every training’s steps (1: about 10 classes × 1,000 images)',
      numberOption('--steps-scale', { gt: 0 }),
      1,
    )
    .option('--seed <n>', 'seed of every run', intOption('--seed', { min: 0 }), 0)
    .option('--per-class <n>', 'samples per class in the final grid', positiveInt('--per-class'), 8)
    .option('--threads <n>', 'intra-op threads', positiveInt('--threads'), 2)
    .action(async (o: FitOptions) => {
      await fit(o);
    });
}
