// `d2c train tokenizer --kind vq|kl`: the step functions of tokenizers/train_step.ts over the data
// loader, plus an EMA of the weights, checkpoints, reconstruction grids and PSNR at log steps.
// For KL, the latent scale factor (1/std of the latents, as MAR's 0.2325 for KL-16) is measured
// with the EMA weights before every save (`prepareSave`, which the trainer calls) and stored in the
// config, where the token cache reads it.
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
import type { VQModel } from '../tokenizers/vq.ts';
import type { Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';
import { DISCRIMINATOR_FILE, type Discriminator, loadCheckpoint, resolveCheckpointDir, saveCheckpoint } from './checkpoint.ts';
import type { DataParallel } from './data_parallel.ts';
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
  /** Classifier folder (or shipped name) whose feature maps drive the perceptual loss (default fmnist-classifier). */
  perceptualNet?: string;
  /** Where the model, the discriminator and each batch live (default cpu). */
  device?: string;
  /** This process's part of a data-parallel job (none: a one-process run). */
  dp?: DataParallel | null;
}

/** Builds the run (seeded weights, training state, data-parallel set-up, probe batch, loader). */
export async function tokenizerTask(
  set: ImageSet,
  part: PartConfig,
  recipe: TokenizerRecipe,
  opts: TokenizerTaskOptions = {},
): Promise<TokenizerTask> {
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
  const created = createTokenizerTrainState(model, recipe.train, new torch.Generator(recipe.seed), {
    perceptual: (recipe.train.perceptualWeight ?? 0) > 0 ? perceptualNetwork(opts.perceptualNet, set, device) : undefined,
    totalSteps: recipe.steps,
  });
  if (device !== 'cpu') created.disc?.to(device);
  // the run's draws are made where the model is
  const state: TokenizerTrainState =
    device === 'cpu' ? created : { ...created, generator: new torch.Generator(recipe.seed, device) };
  const generator = state.generator;
  const dp = opts.dp ?? null;
  if (dp) {
    dp.syncModules(model, ...(state.disc ? [state.disc] : []));
    dp.shardGenerator(generator);
    // the generator loss's backward also reaches the discriminator: its buckets start at finish()
    const disc = state.disc ? dp.gradSync(state.disc.parameters(), false) : null;
    state.sync = { model: dp.gradSync(model.parameters()), disc };
  }
  const probe = await probeBatch(set, device);
  const loader = new DataLoader(set, { batchSize: recipe.batchSize, seed: recipe.seed, hflip: recipe.hflip, shard: dp?.shard });
  return new TokenizerTask(set, part, recipe, opts, { model, state, generator, probe, loader, device });
}

/**
 * A fixed batch of images for reconstruction grids and the scale factor. File sets (ImageFolder)
 * decode through the loader's async path, like every batch of the run.
 */
async function probeBatch(set: ImageSet, device: string): Promise<Tensor> {
  const probeLoader = new DataLoader(set, { batchSize: Math.min(64, set.labels.length), seed: 1, workers: 0, prefetch: false });
  const first = await probeLoader.next();
  await probeLoader.close();
  first.labels.dispose();
  if (device === 'cpu') return torch.keep(first.images);
  const probe = torch.keep(first.images.to(device));
  first.images.dispose();
  return probe;
}

interface TokenizerRun {
  model: VQModel | AutoencoderKL;
  state: TokenizerTrainState;
  generator: torch.Generator;
  probe: Tensor;
  loader: DataLoader;
  device: string;
}

/** One tokenizer training as the trainer sees it; `prepareSave` measures the KL scale factor. */
export class TokenizerTask implements Trainable {
  private readonly model: VQModel | AutoencoderKL;
  private readonly state: TokenizerTrainState;
  private readonly generator: torch.Generator;
  private readonly probe: Tensor;
  private readonly loader: DataLoader;
  private readonly device: string;
  private readonly ema: EMA;

  constructor(
    private readonly set: ImageSet,
    private readonly part: PartConfig,
    private readonly recipe: TokenizerRecipe,
    private readonly opts: TokenizerTaskOptions,
    run: TokenizerRun,
  ) {
    ({
      model: this.model,
      state: this.state,
      generator: this.generator,
      probe: this.probe,
      loader: this.loader,
      device: this.device,
    } = run);
    this.ema = new EMA(this.model, recipe.emaDecay);
  }

  async step(_step: number): Promise<Record<string, number>> {
    const b = this.set.kind === 'array' ? this.loader.nextSync() : await this.loader.next();
    try {
      if (this.device !== 'cpu') {
        const host = b.images;
        b.images = torch.keep(host.to(this.device)); // moved once per batch
        host.dispose();
      }
      const images = b.images;
      const m = torch.autocast(this.recipe.precision ?? 'fp32', () => tokenizerTrainStep(this.state, images));
      this.ema.update();
      const { step: _s, ...rest } = m;
      return Object.fromEntries(Object.entries(rest).filter(([, v]) => typeof v === 'number')) as Record<string, number>;
    } finally {
      b.images.dispose();
      b.labels.dispose();
    }
  }

  /** Runs `f` with the EMA weights in eval mode, without gradients. */
  private withEma<T>(f: () => T): T {
    this.ema.swapIn();
    this.model.eval();
    try {
      return torch.noGrad(f);
    } finally {
      this.model.train();
      this.ema.swapOut();
    }
  }

  async onLog(_step: number, dir: string): Promise<Record<string, number>> {
    const probe = this.probe;
    const { grid, psnr } = this.withEma(() =>
      torch.tidy(() => {
        const x = probe.narrow(0, 0, Math.min(16, probe.shape[0]));
        const recon = (this.model.forward(x) as { recon: Tensor }).recon.clamp(-1, 1);
        const mse = recon.sub(x).square().mean().item();
        return { grid: torch.cat([x, recon], 0), psnr: 10 * Math.log10(4 / Math.max(mse, 1e-12)) };
      }),
    );
    await saveImageGrid(grid, join(dir, 'recon.png'), { nrow: Math.min(16, probe.shape[0]) });
    grid.dispose();
    return { ema_psnr: psnr };
  }

  /** For a KL: the latents' scale factor, measured with the EMA weights, into the config the token cache reads. */
  prepareSave(): void {
    const model = this.model;
    if (model instanceof AutoencoderKL) model.config.scaleFactor = this.withEma(() => estimateScaleFactor(model, this.probe));
  }

  save(dir: string, s: TrainState): void {
    // The image side is recorded so that `d2c cache` and `d2c fit` encode at the size trained on.
    const config = {
      ...this.part,
      config: this.model.config,
      recipe: { ...this.part.recipe, ...this.recipe, imageSize: this.set.size },
    };
    const { disc, optD } = this.state;
    saveCheckpoint(dir, {
      config: config as unknown as Record<string, unknown>,
      model: this.model,
      ema: this.ema,
      optimizer: this.state.opt,
      discriminator: disc && optD ? { model: disc, optimizer: optD } : undefined,
      trainer: { step: s.step, epoch: s.epoch, data: s.data, generators: { main: this.generator } },
    });
  }

  load(dir: string): TrainState {
    const discriminator = discriminatorToLoad(dir, this.state, this.opts.freshDiscriminator ?? false);
    const { trainer } = loadCheckpoint(dir, {
      model: this.model,
      ema: this.ema,
      optimizer: this.state.opt,
      discriminator,
      generators: { main: this.generator },
    });
    if (!trainer) throw new Error(`${dir}: no trainer.json to resume from`);
    this.loader.restore(trainer.data as LoaderState);
    this.state.step = trainer.step;
    return { step: trainer.step, epoch: trainer.epoch, data: trainer.data };
  }

  dataState(): { epoch: number; data: unknown } {
    return { epoch: this.loader.state().epoch, data: this.loader.state() };
  }

  close(): Promise<void> {
    return this.loader.close();
  }
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
