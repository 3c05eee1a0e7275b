// `d2c train tokenizer|stage1|stage2`: config from a preset, plus an optional JSON file, plus
// `--set key=value` overrides (the resolved config is saved in the checkpoint); the shared loop
// of train/trainer.ts does progress, logs, checkpoints, --resume, Ctrl-C and NaN handling.
import type { Command } from 'commander';
import { DATASETS, type DatasetName, openImageSet } from '../../data/open.ts';
import { DEFAULT_CLASSIFIER_DIR } from '../../eval/fmnist_classifier.ts';
import { FUSIONS, fusionConfig } from '../../generators/fusion.ts';
import { readCacheMeta } from '../../pipeline/cache.ts';
import { type PartConfig, type PartKind, readPartConfig, resolveConfig } from '../../pipeline/parts.ts';
import { KL_TRAIN_DEFAULTS, type TokenizerTrainOptions, VQ_TRAIN_DEFAULTS } from '../../tokenizers/train_step.ts';
import * as torch from '../../torch/index.ts';
import { resolveCheckpointDir } from '../../train/checkpoint.ts';
import type { DataParallel } from '../../train/data_parallel.ts';
import { GUIDED_HEAD_RECIPE, guidedHeadPart, guidedHeadTask } from '../../train/guided_head_task.ts';
import { classCountFromCache, tokenizerChannels, tokenizerImageSize } from '../../train/infer.ts';
import type { Recipe } from '../../train/recipe.ts';
import { STAGE1_RECIPE, stage1Task } from '../../train/stage1_task.ts';
import { STAGE2_RECIPE, stage2Task } from '../../train/stage2_task.ts';
import { type TokenizerRecipe, tokenizerTask } from '../../train/tokenizer_task.ts';
import { runTraining } from '../../train/trainer.ts';
import { collect, configOverrides } from '../config_args.ts';
import { type DeviceFlags, deviceOption, type PrecisionFlags, precisionOption, runDevice } from '../device_options.ts';
import { UsageError } from '../errors.ts';
import { isDataParallelWorker, type LaunchOptions, launchOptions, launchOrJoin } from '../launch.ts';
import { choiceOption, intOption, numberOption, positiveInt } from '../options.ts';
import { trainParent } from './train_classifier.ts';

interface CommonOpts extends DeviceFlags, PrecisionFlags {
  out: string;
  preset: string;
  config?: string;
  set?: string[];
  steps?: number;
  batchSize?: number;
  lr?: number;
  seed: number;
  ema?: string;
  logEvery: number;
  saveEvery: number;
  resume: boolean;
  threads: number;
}

/**
 * Data-parallel flags (cli/launch.ts): 'launched' when this process ran the workers and is done;
 * else what this process trains with (its DataParallel in a worker, null alone).
 */
async function join(o: CommonOpts & LaunchOptions): Promise<'launched' | DataParallel | null> {
  runDevice(o.device); // a GPU asked for where there is none fails here, before any worker starts
  // Once, before any worker reads it: finish a checkpoint swap that a killed save left half done.
  if (o.resume && !isDataParallelWorker()) {
    try {
      resolveCheckpointDir(o.out);
    } catch (e) {
      throw new UsageError(`--resume: ${(e as Error).message}`);
    }
  }
  return launchOrJoin(o);
}

function common(cmd: Command, preset: string): Command {
  return precisionOption(deviceOption(launchOptions(cmd)), 'training compute precision (saved: --resume keeps it)')
    .requiredOption('--out <dir>', 'checkpoint folder (written atomically; --resume continues it)')
    .option('--preset <name>', 'model preset', preset)
    .option('--config <file>', 'JSON file of config overrides')
    .option('--set <key=value>', 'config override (repeatable)', collect, [])
    .option('--steps <n>', 'training steps', positiveInt('--steps'))
    .option('--batch-size <n>', 'global batch size (split evenly over data-parallel processes)', positiveInt('--batch-size'))
    .option('--lr <x>', 'peak learning rate', numberOption('--lr', { gt: 0 }))
    .option('--seed <n>', 'seed of the run', intOption('--seed', { min: 0 }), 0)
    .option('--ema <x>', 'EMA decay of the weights')
    .option('--log-every <n>', 'steps between log lines', positiveInt('--log-every'), 50)
    .option('--save-every <n>', 'steps between checkpoints', positiveInt('--save-every'), 500)
    .option('--resume', 'continue the checkpoint in --out', false)
    .option('--threads <n>', 'intra-op threads', positiveInt('--threads'), 2);
}

/** The part config to train: the checkpoint's own when resuming, else preset + overrides. */
function partConfig(kind: PartKind, o: CommonOpts, extra: Record<string, unknown> = {}): PartConfig {
  if (o.resume) {
    const pc = readPartConfig(o.out);
    if (pc.kind !== kind) throw new UsageError(`--resume: ${o.out} holds a ${pc.kind} checkpoint, not ${kind}`);
    return pc;
  }
  const overrides = { ...extra, ...configOverrides(o.config, o.set) };
  try {
    return {
      kind,
      preset: o.preset,
      config: resolveConfig(kind, o.preset, overrides),
      recipe: { command: process.argv.slice(2).join(' ') },
    };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function emaDecay(v: string): number {
  const d = Number(v);
  if (!(v.trim() !== '' && d >= 0 && d < 1)) throw new UsageError(`--ema must be a number in [0, 1), got "${v}"`);
  return d;
}

function recipeFrom(base: Recipe, o: CommonOpts, pc: PartConfig): Recipe {
  const saved = (o.resume ? pc.recipe : {}) as Partial<Recipe>;
  const pick = <K extends keyof Recipe>(k: K, v: Recipe[K] | undefined) => v ?? saved[k] ?? base[k];
  return {
    ...base,
    ...saved,
    steps: pick('steps', o.steps),
    batchSize: pick('batchSize', o.batchSize),
    lr: pick('lr', o.lr),
    seed: o.resume ? (saved.seed ?? o.seed) : o.seed,
    emaDecay: o.ema !== undefined ? emaDecay(o.ema) : (saved.emaDecay ?? base.emaDecay),
    precision: o.precision ?? saved.precision ?? 'fp32',
  };
}

/**
 * The tokenizer recipe from the flags; on --resume, the checkpoint's, with any flag given again
 * taking precedence (and the seed always the checkpoint's), as recipeFrom does for the generators.
 */
interface TokenizerFlags {
  kind: 'vq' | 'kl';
  ganStart?: number;
  perceptualWeight?: number;
  schedule?: 'constant' | 'cosine';
  warmup?: number;
  minLr?: number;
  klWeight?: number;
}

function tokenizerRecipe(o: CommonOpts & TokenizerFlags, pc: PartConfig): TokenizerRecipe {
  const base: TokenizerTrainOptions = o.kind === 'vq' ? VQ_TRAIN_DEFAULTS : KL_TRAIN_DEFAULTS;
  const saved = (o.resume ? pc.recipe : {}) as Partial<TokenizerRecipe>;
  const savedGan = saved.train ? saved.train.gan : null;
  const gan = o.ganStart === undefined || !base.gan ? savedGan : { ...(savedGan ?? base.gan), start: o.ganStart };
  return {
    steps: o.steps ?? saved.steps ?? 3000,
    batchSize: o.batchSize ?? saved.batchSize ?? 64,
    emaDecay: o.ema !== undefined ? emaDecay(o.ema) : (saved.emaDecay ?? 0.999),
    seed: o.resume ? (saved.seed ?? o.seed) : o.seed,
    hflip: saved.hflip ?? true,
    precision: o.precision ?? saved.precision ?? 'fp32',
    train: {
      ...base,
      ...saved.train,
      lr: o.lr ?? saved.train?.lr ?? 4e-4,
      gan,
      ...defined({
        perceptualWeight: o.perceptualWeight,
        schedule: o.schedule,
        warmup: o.warmup,
        minLr: o.minLr,
        klWeight: o.klWeight,
      }),
    },
  };
}

/** The entries whose value is given (a flag not given keeps the checkpoint's or the default). */
function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

async function run(
  label: string,
  o: CommonOpts,
  dp: DataParallel | null,
  task: Parameters<typeof runTraining>[0],
  steps: number,
): Promise<void> {
  const r = await runTraining(task, {
    dp,
    steps,
    outDir: o.out,
    logEvery: o.logEvery,
    saveEvery: o.saveEvery,
    resume: o.resume,
    label,
  });
  if (r.interrupted) process.stderr.write(`resume with the same command plus --resume\n`);
}

export function register(program: Command): void {
  const train = trainParent(program);

  common(train.command('tokenizer').description('train a VQ or KL tokenizer on images'), 'vq_fmnist')
    .requiredOption('--kind <kind>', 'vq or kl', choiceOption('--kind', ['vq', 'kl'] as const))
    .option('--dataset <name>', `dataset (${DATASETS.join(', ')})`, choiceOption('--dataset', DATASETS), 'fashion-mnist')
    .option('--data <dir>', 'Fashion-MNIST IDX folder or ImageFolder root')
    .option('--size <n>', 'image size (imagefolder, synthetic; default: the preset’s)', positiveInt('--size'))
    .option(
      '--channels <n>',
      'channels (imagefolder, synthetic; default: the preset’s)',
      intOption('--channels', { min: 1, max: 3 }),
    )
    .option('--count <n>', 'synthetic: number of samples', positiveInt('--count'), 1000)
    .option('--gan-start <n>', 'first step of the PatchGAN hinge loss (default: off)', intOption('--gan-start', { min: 0 }))
    .option(
      '--perceptual-weight <x>',
      "weight of the perceptual loss on the classifier's features (default 0: off)",
      numberOption('--perceptual-weight', { min: 0 }),
    )
    .option('--perceptual-net <dir>', 'classifier folder (or shipped name) for the perceptual loss', DEFAULT_CLASSIFIER_DIR)
    .option(
      '--schedule <kind>',
      'learning-rate schedule over --steps (default constant)',
      choiceOption('--schedule', ['constant', 'cosine'] as const),
    )
    .option('--warmup <n>', 'linear LR warm-up steps (default 0)', intOption('--warmup', { min: 0 }))
    .option('--min-lr <x>', 'final LR of the cosine schedule (default 0)', numberOption('--min-lr', { min: 0 }))
    .option('--kl-weight <x>', 'KL: weight of the KL term (default 1e-6)', numberOption('--kl-weight', { min: 0 }))
    .option(
      '--fresh-discriminator',
      'with --resume of a checkpoint written before d2c saved the discriminator: restart it from its initial weights',
      false,
    )
    .action(
      async (
        o: CommonOpts &
          TokenizerFlags & {
            dataset: DatasetName;
            data?: string;
            size?: number;
            channels?: 1 | 3;
            count: number;
            freshDiscriminator: boolean;
            perceptualNet: string;
          },
      ) => {
        const dp = await join(o as typeof o & LaunchOptions);
        if (dp === 'launched') return;
        torch.setNumThreads(o.threads);
        const device = runDevice(o.device);
        if (o.preset === 'vq_fmnist' && o.kind === 'kl') o.preset = 'kl_fmnist';
        const pc = partConfig(o.kind, o);
        const set = await openImageSet({
          dataset: o.dataset,
          data: o.data,
          // Unless given: the channels the config takes, the side its preset (or checkpoint) is for.
          size: o.size ?? tokenizerImageSize(pc) ?? 32,
          channels: o.channels ?? tokenizerChannels(pc),
          count: o.count,
          seed: o.seed,
        });
        const recipe = tokenizerRecipe(o, pc);
        const task = await tokenizerTask(set, pc, recipe, {
          freshDiscriminator: o.freshDiscriminator,
          perceptualNet: o.perceptualNet,
          device,
          dp,
        });
        await run(`tokenizer ${pc.preset}`, o, dp, task, recipe.steps);
      },
    );

  common(train.command('stage1').description('train the stage-1 GPT on a token cache'), 'gpt_fmnist')
    .requiredOption('--cache <dir>', 'token cache from `d2c cache`')
    .action(async (o: CommonOpts & { cache: string }) => {
      const dp = await join(o as typeof o & LaunchOptions);
      if (dp === 'launched') return;
      torch.setNumThreads(o.threads);
      const device = runDevice(o.device);
      const pc = partConfig('gpt', o, classCountFromCache('gpt', readCacheMeta(o.cache), configOverrides(o.config, o.set)));
      const recipe = recipeFrom(STAGE1_RECIPE, o, pc);
      await run(`stage1 ${pc.preset}`, o, dp, stage1Task(o.cache, pc, recipe, { device, dp }), recipe.steps);
    });

  common(train.command('stage2').description('train the stage-2 MAR (+ fusion) on a token cache'), 'mar_fmnist')
    .requiredOption('--cache <dir>', 'token cache from `d2c cache`')
    .option(
      '--fusion <kind>',
      `conditioning on the stage-1 codes (${FUSIONS.join(', ')}); crossattn and qformer are local (crossWindow 1; --set crossWindow=0 --set crossSelfBias=0: global), both favouring each token's own cell (crossSelfBias 2), qformer with one query per grid cell`,
      choiceOption('--fusion', FUSIONS),
    )
    .option('--mix-stage1 <dir>', 'code mixing: the stage-1 GPT checkpoint whose teacher-forced draws replace codes')
    .option(
      '--mix-rate <x>',
      'code mixing: the rate (default 0.5 with --mix-stage1)',
      numberOption('--mix-rate', { min: 0, max: 1 }),
    )
    .action(async (o: CommonOpts & { cache: string; fusion?: string; mixStage1?: string; mixRate?: number }) => {
      const dp = await join(o as typeof o & LaunchOptions);
      if (dp === 'launched') return;
      torch.setNumThreads(o.threads);
      const device = runDevice(o.device);
      const mixRate = o.mixRate ?? (o.mixStage1 ? 0.5 : undefined);
      const classes = classCountFromCache('mar', readCacheMeta(o.cache), configOverrides(o.config, o.set));
      const pc = partConfig('mar', o, {
        ...classes,
        ...(o.fusion ? fusionConfig(o.fusion) : {}),
        ...(mixRate !== undefined ? { codeMixRate: mixRate } : {}),
      });
      // Mixing is a training knob, not architecture: --resume with --mix-rate changes it from there on
      // (fine-tuning a trained stage 2 with mixing), and the checkpoint records the new rate.
      if (o.resume && mixRate !== undefined) pc.config = { ...pc.config, codeMixRate: mixRate };
      // The mixing GPT is part of the run: resume reads it from the checkpoint's recipe.
      const mixStage1 = o.mixStage1 ?? (pc.recipe as { mixStage1?: string } | undefined)?.mixStage1;
      if (mixStage1) pc.recipe = { ...pc.recipe, mixStage1 };
      if (o.resume && o.fusion && pc.config.fusion !== o.fusion) {
        throw new UsageError(`--resume: the checkpoint was trained with fusion ${pc.config.fusion}, not ${o.fusion}`);
      }
      const recipe = recipeFrom(STAGE2_RECIPE, o, pc);
      await run(
        `stage2 ${pc.preset}/${pc.config.fusion}`,
        o,
        dp,
        stage2Task(o.cache, pc, recipe, { mixStage1, device, dp }),
        recipe.steps,
      );
    });

  common(
    train
      .command('guided-head')
      .description("distil a trained stage 2's classifier-free guidance into a second head that needs no unconditional pass"),
    'mar_fmnist',
  )
    .requiredOption('--cache <dir>', 'token cache from `d2c cache` (the one the stage 2 was trained on)')
    .option('--from <dir>', "the trained stage 2: a checkpoint folder or a model folder's stage2/ (not needed with --resume)")
    .option('--max-cfg <x>', 'the largest guidance scale to learn (default 5)', numberOption('--max-cfg', { gt: 1 }))
    .action(async (o: CommonOpts & { cache: string; from?: string; maxCfg?: number }) => {
      const dp = await join(o as typeof o & LaunchOptions);
      if (dp === 'launched') return;
      torch.setNumThreads(o.threads);
      const device = runDevice(o.device);
      if (o.set?.length || o.config)
        throw new UsageError("guided-head: the architecture is the stage 2's own; --set and --config do not apply");
      let pc: PartConfig;
      if (o.resume) pc = partConfig('mar', o);
      else if (!o.from)
        throw new UsageError('guided-head: --from <stage-2 dir> is required (the model whose guidance to distil)');
      else {
        try {
          pc = guidedHeadPart(o.from, o.maxCfg);
        } catch (e) {
          throw new UsageError((e as Error).message);
        }
      }
      const recipe = recipeFrom(GUIDED_HEAD_RECIPE, o, pc);
      await run('guided head', o, dp, guidedHeadTask(o.cache, pc, recipe, { device, dp, resume: o.resume }), recipe.steps);
    });
}
