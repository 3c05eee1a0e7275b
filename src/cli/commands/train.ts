// `d2c train tokenizer|stage1|stage2`: config from a preset, plus an optional JSON file, plus
// `--set key=value` overrides (the resolved config is saved in the checkpoint); the shared loop
// of train/trainer.ts does progress, logs, checkpoints, --resume, Ctrl-C and NaN handling.
import type { Command } from 'commander';
import { DATASETS, type DatasetName, openImageSet } from '../../data/open.ts';
import { FUSIONS } from '../../generators/fusion.ts';
import { readCacheMeta } from '../../pipeline/cache.ts';
import { type PartConfig, type PartKind, readPartConfig, resolveConfig } from '../../pipeline/parts.ts';
import { KL_TRAIN_DEFAULTS, type TokenizerTrainOptions, VQ_TRAIN_DEFAULTS } from '../../tokenizers/train_step.ts';
import * as torch from '../../torch/index.ts';
import { classCountFromCache, tokenizerChannels, tokenizerImageSize } from '../../train/infer.ts';
import type { Recipe } from '../../train/recipe.ts';
import { STAGE1_RECIPE, stage1Task } from '../../train/stage1_task.ts';
import { STAGE2_RECIPE, stage2Task } from '../../train/stage2_task.ts';
import { type TokenizerRecipe, tokenizerTask } from '../../train/tokenizer_task.ts';
import { runTraining } from '../../train/trainer.ts';
import { collect, configOverrides } from '../config_args.ts';
import { UsageError } from '../errors.ts';
import { choiceOption, intOption, numberOption, positiveInt } from '../options.ts';
import { trainParent } from './train_classifier.ts';

interface CommonOpts {
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

function common(cmd: Command, preset: string): Command {
  return cmd
    .requiredOption('--out <dir>', 'checkpoint folder (written atomically; --resume continues it)')
    .option('--preset <name>', 'model preset', preset)
    .option('--config <file>', 'JSON file of config overrides')
    .option('--set <key=value>', 'config override (repeatable)', collect, [])
    .option('--steps <n>', 'training steps', positiveInt('--steps'))
    .option('--batch-size <n>', 'batch size', positiveInt('--batch-size'))
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
  };
}

/**
 * The tokenizer recipe from the flags; on --resume, the checkpoint's, with any flag given again
 * taking precedence (and the seed always the checkpoint's), as recipeFrom does for the generators.
 */
function tokenizerRecipe(o: CommonOpts & { kind: 'vq' | 'kl'; ganStart?: number }, pc: PartConfig): TokenizerRecipe {
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
    train: { ...base, ...saved.train, lr: o.lr ?? saved.train?.lr ?? 4e-4, gan },
  };
}

async function run(label: string, o: CommonOpts, task: Parameters<typeof runTraining>[0], steps: number): Promise<void> {
  const r = await runTraining(task, {
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
      '--fresh-discriminator',
      'with --resume of a checkpoint written before d2c saved the discriminator: restart it from its initial weights',
      false,
    )
    .action(
      async (
        o: CommonOpts & {
          kind: 'vq' | 'kl';
          dataset: DatasetName;
          data?: string;
          size?: number;
          channels?: 1 | 3;
          count: number;
          ganStart?: number;
          freshDiscriminator: boolean;
        },
      ) => {
        torch.setNumThreads(o.threads);
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
        const task = await tokenizerTask(set, pc, recipe, { freshDiscriminator: o.freshDiscriminator });
        await run(`tokenizer ${pc.preset}`, o, task, recipe.steps);
      },
    );

  common(train.command('stage1').description('train the stage-1 GPT on a token cache'), 'gpt_fmnist')
    .requiredOption('--cache <dir>', 'token cache from `d2c cache`')
    .action(async (o: CommonOpts & { cache: string }) => {
      torch.setNumThreads(o.threads);
      const pc = partConfig('gpt', o, classCountFromCache('gpt', readCacheMeta(o.cache), configOverrides(o.config, o.set)));
      const recipe = recipeFrom(STAGE1_RECIPE, o, pc);
      await run(`stage1 ${pc.preset}`, o, stage1Task(o.cache, pc, recipe), recipe.steps);
    });

  common(train.command('stage2').description('train the stage-2 MAR (+ fusion) on a token cache'), 'mar_fmnist')
    .requiredOption('--cache <dir>', 'token cache from `d2c cache`')
    .option('--fusion <kind>', `conditioning on the stage-1 codes (${FUSIONS.join(', ')})`, choiceOption('--fusion', FUSIONS))
    .action(async (o: CommonOpts & { cache: string; fusion?: string }) => {
      torch.setNumThreads(o.threads);
      const classes = classCountFromCache('mar', readCacheMeta(o.cache), configOverrides(o.config, o.set));
      const pc = partConfig('mar', o, { ...classes, ...(o.fusion ? { fusion: o.fusion } : {}) });
      if (o.resume && o.fusion && pc.config.fusion !== o.fusion) {
        throw new UsageError(`--resume: the checkpoint was trained with fusion ${pc.config.fusion}, not ${o.fusion}`);
      }
      const recipe = recipeFrom(STAGE2_RECIPE, o, pc);
      await run(`stage2 ${pc.preset}/${pc.config.fusion}`, o, stage2Task(o.cache, pc, recipe), recipe.steps);
    });
}
