// The phases of `d2c dry-run`, each run in its own process (so its peak memory is its own): one
// training step of each tokenizer, the token cache, one step of stage 1 and of stage 2, and one
// sample, on synthetic images, through the same tasks as `d2c train`, `cache`, `pack` and `sample`.
// Every phase leaves what the next needs in the work folder (checkpoints, the cache, the model).
import { join } from 'node:path';
import type { ArrayImageSet } from '../data/dataset.ts';
import { syntheticImageSet } from '../data/synthetic.ts';
import { fusionConfig } from '../generators/fusion.ts';
import type { Module } from '../nn/module.ts';
import { buildTokenCache, readCacheMeta } from '../pipeline/cache.ts';
import { D2C } from '../pipeline/d2c.ts';
import { loadPart, type PartConfig, type PartKind, resolveConfig } from '../pipeline/parts.ts';
import { presetImageSize } from '../tokenizers/presets.ts';
import { KL_TRAIN_DEFAULTS, VQ_TRAIN_DEFAULTS } from '../tokenizers/train_step.ts';
import * as torch from '../torch/index.ts';
import { STAGE1_RECIPE, stage1Task } from '../train/stage1_task.ts';
import { STAGE2_RECIPE, stage2Task } from '../train/stage2_task.ts';
import { tokenizerTask } from '../train/tokenizer_task.ts';
import { runTraining, type Trainable } from '../train/trainer.ts';
import { packModel } from './commands/pack.ts';
import { sampleFlopsAt } from './dry_run_sample.ts';

/** MAR's sampler: 64 autoregressive steps, 100 diffusion steps. */
export const MAR_SAMPLING = { steps: 64, diffusionSteps: 100 };

export const PHASES = ['vq', 'kl', 'cache', 'stage1', 'stage2', 'sample'] as const;
export type Phase = (typeof PHASES)[number];

export interface DryRunSetup {
  work: string;
  device: string;
  precision: torch.Precision;
  /** Presets of the four parts: vq, kl, gpt, mar. */
  presets: { vq: string; kl: string; gpt: string; mar: string };
  fusion: string;
  /** Images per training step and per cache batch. */
  batch: number;
  /** Stage-2 autoregressive steps and diffusion steps of the sample. */
  sampleSteps: number;
  diffusionSteps: number;
}

export interface PhaseResult {
  phase: Phase;
  what: string;
  params: number;
  batch: number;
  /** Wall seconds of the step, and the CPU seconds this process spent in it (robust to other load). */
  seconds: number;
  cpuSeconds: number;
  /** Forward FLOPs of the linear/conv/attention ops, ×3 for a training step (backward ≈ 2 × forward). */
  flops: number;
  peakRssMiB: number;
  /** The sample only: its FLOPs estimated at MAR's sampler (64 AR × 100 diffusion steps), from its measured parts. */
  officialFlops?: number;
}

/** The synthetic images: labels spread over the generator's classes, at the VQ preset's side, RGB. */
function images(s: DryRunSetup): ArrayImageSet {
  const size = presetImageSize(s.presets.vq);
  if (!size) throw new Error(`dry-run: ${s.presets.vq} is not a tokenizer preset with a known image size`);
  const set = syntheticImageSet({ count: s.batch, seed: 0, size, channels: 3 });
  const numClasses = (resolveConfig('gpt', s.presets.gpt) as { numClasses: number }).numClasses;
  return { ...set, classes: Array.from({ length: numClasses }, (_, i) => `class${i}`) };
}

const paramCount = (...ms: Module[]) => ms.reduce((n, m) => n + m.parameters().reduce((a, p) => a + p.numel, 0), 0);
const part = (kind: PartKind, preset: string, overrides: Record<string, unknown> = {}): PartConfig => ({
  kind,
  preset,
  config: resolveConfig(kind, preset, overrides),
  recipe: { command: 'dry-run' },
});

type Measured = { seconds: number; cpuSeconds: number; flops: number };

/** Wall and CPU seconds and forward FLOPs of `fn`. */
async function timed<T>(fn: () => T | Promise<T>): Promise<Measured & { result: T }> {
  const count = torch.startFlopCount();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const result = await fn();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { result, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, flops: count.stop() };
}

/** One measured step of a task, then its checkpoint (what the next phases read). */
async function trainOnce(task: Trainable, dir: string): Promise<Measured> {
  const step = task.step.bind(task);
  let measured: Measured = { seconds: 0, cpuSeconds: 0, flops: 0 };
  task.step = async (n: number) => {
    const { result, ...m } = await timed(() => step(n));
    measured = { ...m, flops: 3 * m.flops }; // backward ≈ 2 × forward
    return result;
  };
  await runTraining(task, { steps: 1, outDir: dir, quiet: true, logEvery: 1 });
  return measured;
}

export async function runPhase(phase: Phase, s: DryRunSetup): Promise<Omit<PhaseResult, 'peakRssMiB'>> {
  const dir = (p: string) => join(s.work, p);
  if (phase === 'vq' || phase === 'kl') {
    const preset = s.presets[phase];
    const base = phase === 'vq' ? VQ_TRAIN_DEFAULTS : KL_TRAIN_DEFAULTS;
    // the GAN on from the first step: the measured step is the dearest one of the run
    const train = { ...base, gan: base.gan ? { ...base.gan, start: 0 } : null };
    const recipe = { steps: 1, batchSize: s.batch, emaDecay: 0.999, seed: 0, hflip: true, train, precision: s.precision };
    const task = await tokenizerTask(images(s), part(phase, preset), recipe, { device: s.device });
    const m = await trainOnce(task, dir(phase));
    const params = paramCount(loadPart(dir(phase)).model);
    return { phase, what: `${preset} training step (+ PatchGAN)`, params, batch: s.batch, ...m };
  }
  if (phase === 'cache') {
    const vq = loadPart(dir('vq'), { device: s.device });
    const kl = loadPart(dir('kl'), { device: s.device });
    const set = images(s);
    const { result: _meta, ...m } = await timed(() =>
      buildTokenCache({
        vq: vq.model as never,
        kl: kl.model as never,
        vqDir: dir('vq'),
        klDir: dir('kl'),
        set,
        outDir: dir('cache'),
        batchSize: s.batch,
        shardSize: s.batch,
      }),
    );
    const params = paramCount(vq.model, kl.model);
    return { phase, what: 'token cache (image + flip)', params, batch: s.batch, ...m };
  }
  if (phase === 'stage1' || phase === 'stage2') {
    const meta = readCacheMeta(dir('cache'));
    if (phase === 'stage1') {
      const pc = part('gpt', s.presets.gpt, { vocabSize: meta.codebookSize, blockSize: meta.grid * meta.grid });
      const task = stage1Task(
        dir('cache'),
        pc,
        { ...STAGE1_RECIPE, steps: 1, batchSize: s.batch, precision: s.precision },
        { device: s.device },
      );
      const m = await trainOnce(task, dir('stage1'));
      return { phase, what: `${s.presets.gpt} training step`, params: paramCount(task.model), batch: s.batch, ...m };
    }
    const pc = part('mar', s.presets.mar, {
      ...fusionConfig(s.fusion), // as `train stage2 --fusion` builds it
      classNum: meta.classes.length,
      codebookSize: meta.codebookSize,
      vaeEmbedDim: meta.latentChannels,
    });
    const task = stage2Task(
      dir('cache'),
      pc,
      { ...STAGE2_RECIPE, steps: 1, batchSize: s.batch, precision: s.precision },
      { device: s.device },
    );
    const m = await trainOnce(task, dir('stage2'));
    const what = `${s.presets.mar} (${s.fusion}) training step`;
    return { phase, what, params: paramCount(task.model), batch: s.batch, ...m };
  }
  // pack's sampling defaults (CFG on) but the dry run's steps, constant (no DiSA annealing, as MAR's
  // sampler that the estimate scales to): FLOPs depend on little else
  packModel({
    vq: dir('vq'),
    kl: dir('kl'),
    stage1: dir('stage1'),
    stage2: dir('stage2'),
    cache: dir('cache'),
    out: dir('model'),
    name: 'dry-run',
    fp16: false,
    steps: s.sampleSteps,
    diffusionSteps: s.diffusionSteps,
    finalDiffusionSteps: s.diffusionSteps,
  });
  const m = D2C.fromPretrained(dir('model'), { device: s.device, precision: s.precision });
  const parts = sampleFlopsAt(m, { steps: s.sampleSteps, diffusionSteps: s.diffusionSteps });
  const { result: _r, ...measured } = await timed(() => torch.dispose(m.generate({ classes: [0], seed: 0 })));
  const params = paramCount(m.kl, m.stage2, ...(m.vq ? [m.vq] : []), ...(m.stage1 ? [m.stage1] : []));
  const what = `1 image: ${s.presets.gpt} (CFG) + ${s.presets.mar} ${s.sampleSteps} AR × ${s.diffusionSteps} diffusion steps`;
  const officialFlops = parts.at(MAR_SAMPLING.steps, MAR_SAMPLING.diffusionSteps, measured.flops);
  return { phase, what, params, batch: 1, ...measured, officialFlops };
}
