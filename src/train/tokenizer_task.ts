// `d2c train tokenizer --kind vq|kl`: the step functions of tokenizers/train_step.ts over the data
// loader, plus an EMA of the weights, checkpoints, reconstruction grids and PSNR at log steps.
// For KL, the latent scale factor (1/std of the latents, as MAR's 0.2325 for KL-16) is measured
// with the EMA weights at every save and stored in the config, where the token cache reads it.
// With the GAN loss on, checkpoints also hold the discriminator and its AdamW state, so resume is exact.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageSet } from '../data/dataset.ts';
import { DataLoader, type LoaderState } from '../data/loader.ts';
import { saveImageGrid } from '../data/png.ts';
import { DEFAULT_CLASSIFIER_DIR, loadClassifier } from '../eval/fmnist_classifier.ts';
import { EMA } from '../optim/ema.ts';
import type { PartConfig } from '../pipeline/parts.ts';
import { AutoencoderKL } from '../tokenizers/kl.ts';
import { buildTokenizer, estimateScaleFactor } from '../tokenizers/presets.ts';
import {
  createTokenizerTrainState,
  type TokenizerTrainOptions,
  type TokenizerTrainState,
  tokenizerTrainStep,
} from '../tokenizers/train_step.ts';
import type { Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';
import { DISCRIMINATOR_FILE, type Discriminator, loadCheckpoint, resolveCheckpointDir, saveCheckpoint } from './checkpoint.ts';
import { dataParallel } from './data_parallel.ts';
import type { Trainable, TrainState } from './trainer.ts';

export interface TokenizerRecipe {
  steps: number;
  batchSize: number;
  emaDecay: number;
  seed: number;
  hflip: boolean;
  train: TokenizerTrainOptions;
  /** Compute precision of the steps (autocast); absent: fp32. Saved, so --resume keeps it. */
  precision?: torch.Precision;
}

export interface TokenizerTaskOptions {
  /**
   * Resuming a checkpoint that lacks discriminator.safetensors although its discriminator had
   * trained (written before d2c saved it): restart the discriminator from its initial weights.
   */
  freshDiscriminator?: boolean;
  /** Classifier folder whose feature maps drive the perceptual loss (default models/fmnist-classifier). */
  perceptualNet?: string;
  /** Where the model, the discriminator and each batch live (default cpu). */
  device?: string;
}

export async function tokenizerTask(
  set: ImageSet,
  part: PartConfig,
  recipe: TokenizerRecipe,
  opts: TokenizerTaskOptions = {},
): Promise<Trainable> {
  if (part.kind !== 'vq' && part.kind !== 'kl') throw new Error(`tokenizer training: kind must be vq or kl, got ${part.kind}`);
  torch.manualSeed(recipe.seed); // the initial weights are part of the run: seeded
  const model = buildTokenizer(part.kind, part.preset, part.config as never);
  const cfg = model.config;
  if (cfg.inChannels !== set.channels) {
    throw new Error(
      `${part.preset} takes ${cfg.inChannels}-channel images but ${set.name} has ${set.channels} channels (--set inChannels=${set.channels} outChannels=${set.channels})`,
    );
  }
  const device = opts.device ?? 'cpu';
  if (device !== 'cpu') model.to(device);
  model.train();
  // The discriminator's initial weights are drawn on the CPU, as the model's are, then moved.
  const generator = new torch.Generator(recipe.seed);
  const created = createTokenizerTrainState(model, recipe.train, generator, {
    perceptual: (recipe.train.perceptualWeight ?? 0) > 0 ? perceptualNetwork(opts.perceptualNet, set, device) : undefined,
    totalSteps: recipe.steps,
  });
  if (device !== 'cpu') created.disc?.to(device);
  // the run's draws are made where the model is
  const state: TokenizerTrainState =
    device === 'cpu' ? created : { ...created, generator: new torch.Generator(recipe.seed, device) };
  const run = state.generator;
  const dp = dataParallel();
  if (dp) {
    dp.syncModules(model, ...(state.disc ? [state.disc] : []));
    dp.shardGenerator(run);
    // the generator loss's backward also reaches the discriminator: its buckets start at finish()
    const disc = state.disc ? dp.gradSync(state.disc.parameters(), false) : null;
    state.sync = { model: dp.gradSync(model.parameters()), disc };
  }
  const ema = new EMA(model, recipe.emaDecay);
  // A fixed batch of images for reconstruction grids and the scale factor. File sets (ImageFolder)
  // decode through the loader's async path, like every batch of the run.
  const probeLoader = new DataLoader(set, { batchSize: Math.min(64, set.labels.length), seed: 1, workers: 0, prefetch: false });
  const first = await probeLoader.next();
  await probeLoader.close();
  first.labels.dispose();
  const probe = torch.keep(device === 'cpu' ? first.images : first.images.to(device));
  if (device !== 'cpu') first.images.dispose();
  const loader = new DataLoader(set, {
    batchSize: recipe.batchSize,
    seed: recipe.seed,
    hflip: recipe.hflip,
    shard: dp?.shard,
  });
  const withEma = <T>(f: () => T): T => {
    ema.swapIn();
    model.eval();
    try {
      return torch.noGrad(f);
    } finally {
      model.train();
      ema.swapOut();
    }
  };
  const config = () => {
    if (model instanceof AutoencoderKL) {
      const scaleFactor = withEma(() => estimateScaleFactor(model, probe));
      model.config.scaleFactor = scaleFactor;
    }
    // The image side is recorded so that `d2c cache` and `d2c fit` encode at the size trained on.
    return { ...part, config: model.config, recipe: { ...part.recipe, ...recipe, imageSize: set.size } };
  };
  return {
    async step() {
      const b = set.kind === 'array' ? loader.nextSync() : await loader.next();
      try {
        const images = device === 'cpu' ? b.images : torch.keep(b.images.to(device));
        if (images !== b.images) b.images.dispose();
        b.images = images;
        const m = torch.autocast(recipe.precision ?? 'fp32', () => tokenizerTrainStep(state, images));
        ema.update();
        const { step: _s, ...rest } = m;
        return Object.fromEntries(Object.entries(rest).filter(([, v]) => typeof v === 'number')) as Record<string, number>;
      } finally {
        b.images.dispose();
        b.labels.dispose();
      }
    },
    async onLog(_step: number, dir: string) {
      const { grid, psnr } = withEma(() =>
        torch.tidy(() => {
          const x = probe.narrow(0, 0, Math.min(16, probe.shape[0]));
          const recon = (model.forward(x) as { recon: Tensor }).recon.clamp(-1, 1);
          const mse = recon.sub(x).square().mean().item();
          return { grid: torch.cat([x, recon], 0), psnr: 10 * Math.log10(4 / Math.max(mse, 1e-12)) };
        }),
      );
      await saveImageGrid(grid, join(dir, 'recon.png'), { nrow: Math.min(16, probe.shape[0]) });
      grid.dispose();
      return { ema_psnr: psnr };
    },
    save(dir: string, s: TrainState) {
      saveCheckpoint(dir, {
        config: config() as unknown as Record<string, unknown>,
        model,
        ema,
        optimizer: state.opt,
        discriminator: state.disc && state.optD ? { model: state.disc, optimizer: state.optD } : undefined,
        trainer: { step: s.step, epoch: s.epoch, data: s.data, generators: { main: run } },
      });
    },
    load(dir: string) {
      const discriminator = discriminatorToLoad(dir, state, opts.freshDiscriminator ?? false);
      const { trainer } = loadCheckpoint(dir, {
        model,
        ema,
        optimizer: state.opt,
        discriminator,
        generators: { main: run },
      });
      if (!trainer) throw new Error(`${dir}: no trainer.json to resume from`);
      loader.restore(trainer.data as LoaderState);
      state.step = trainer.step;
      return { step: trainer.step, epoch: trainer.epoch, data: trainer.data };
    },
    dataState: () => ({ epoch: loader.state().epoch, data: loader.state() }),
    close: () => loader.close(),
  };
}

/** The frozen classifier's feature maps, for images of the set it was trained on (1×32×32). */
function perceptualNetwork(dir: string | undefined, set: ImageSet, device: string): (x: Tensor) => Tensor[] {
  const { model } = loadClassifier(dir ?? DEFAULT_CLASSIFIER_DIR);
  if (device !== 'cpu') model.to(device);
  const { inChannels, imageSize } = model.config;
  if (set.channels !== inChannels || set.size !== imageSize)
    throw new Error(
      `the perceptual loss's classifier takes ${inChannels}×${imageSize}×${imageSize} images but ${set.name} has ${set.channels}×${set.size}×${set.size}; use --perceptual-weight 0`,
    );
  for (const p of model.parameters()) p.requiresGrad = false;
  model.eval();
  return (x) => model.featureMaps(x);
}

/**
 * The discriminator to restore from `dir`, or undefined to keep the run's freshly initialised one.
 * That is exact when the saved run never trained its discriminator (GAN off or not started yet):
 * the initial weights come from the run's seeded generator. Otherwise a missing file is an error.
 */
function discriminatorToLoad(dir: string, s: TokenizerTrainState, fresh: boolean): Discriminator | undefined {
  const root = resolveCheckpointDir(dir);
  const saved = existsSync(join(root, DISCRIMINATOR_FILE));
  const { start, step } = savedGan(root);
  if (!s.disc || !s.optD) {
    if (!saved) return undefined;
    throw new Error(
      `checkpoint ${root} holds ${DISCRIMINATOR_FILE} but this run has the GAN loss off: ` +
        `resume with --gan-start ${start ?? '<n>'} as the run that wrote it, or delete the file to continue without the GAN`,
    );
  }
  if (saved) return { model: s.disc, optimizer: s.optD };
  const trained = start === null ? 0 : Math.max(0, step - start);
  if (trained === 0) return undefined;
  const what = `checkpoint ${root}: ${DISCRIMINATOR_FILE} is missing, but its discriminator trained for ${trained} steps (GAN loss from step ${start})`;
  if (!fresh) {
    throw new Error(
      `${what}; checkpoints written before d2c saved the discriminator lack it. ` +
        'Resume with --fresh-discriminator to restart it from its initial weights (the run then differs from an uninterrupted one)',
    );
  }
  process.stderr.write(`warning: ${what}; restarting it from its initial weights (--fresh-discriminator)\n`);
  return undefined;
}

/** The saved run's GAN start step (null: GAN off) and the step it was saved at. */
function savedGan(root: string): { start: number | null; step: number } {
  const { config, trainer } = loadCheckpoint(root, { restoreGlobalRng: false });
  const gan = (config.recipe as Partial<TokenizerRecipe> | undefined)?.train?.gan;
  return { start: gan ? gan.start : null, step: trainer?.step ?? 0 };
}
