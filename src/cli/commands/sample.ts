// `d2c sample`: class-conditional images from a model folder, as a PNG grid (optionally with the
// stage-1 coarse preview beside each image, and single PNGs). Same arguments → same bytes.
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { saveImageGrid, saveImages } from '../../data/png.ts';
import { DIFFUSION_SAMPLERS, type DiffusionSampler, HEAD_GUIDANCES, type HeadGuidance } from '../../generators/schedules.ts';
import { D2C, type GenerateOptions, type Stage1Options, type Stage2Options } from '../../pipeline/d2c.ts';
import type { Tensor } from '../../torch/index.ts';
import * as torch from '../../torch/index.ts';
import { type DeviceFlags, type PrecisionFlags, runDevice, samplingDeviceOptions } from '../device_options.ts';
import { UsageError } from '../errors.ts';
import { choiceOption, intOption, numberOption, positiveInt } from '../options.ts';
import { progressBar } from '../progress.ts';

/** The shipped model, by name (src/pipeline/model_dir.ts); a path names a folder of one's own. */
export const DEFAULT_MODEL = 'd2c-fmnist';

/** The sampling options of both stages, shared by sample, demo and eval. */
export function samplingOptions(cmd: Command): Command {
  return cmd
    .option('--stage1-cfg <x>', 'stage-1 classifier-free guidance scale', numberOption('--stage1-cfg', { min: 1 }))
    .option('--stage1-temperature <x>', 'stage-1 temperature', numberOption('--stage1-temperature', { gt: 0 }))
    .option('--top-k <n>', 'stage-1 top-k (0: off)', intOption('--top-k', { min: 0 }))
    .option('--top-p <x>', 'stage-1 top-p (1: off)', numberOption('--top-p', { gt: 0, max: 1 }))
    .option('--stage2-cfg <x>', 'stage-2 guidance scale', numberOption('--stage2-cfg', { min: 1 }))
    .option('--cfg-schedule <s>', 'stage-2 guidance schedule', choiceOption('--cfg-schedule', ['linear', 'constant'] as const))
    .option('--stage2-temperature <x>', 'stage-2 diffusion temperature', numberOption('--stage2-temperature', { gt: 0 }))
    .option('--steps <n>', 'stage-2 autoregressive steps', positiveInt('--steps'))
    .option(
      '--diffusion-steps <n>',
      'steps of the diffusion head’s sampler per token (its schedule respaced; default: the model’s)',
      intOption('--diffusion-steps', { min: 1, max: 1000 }),
    )
    .option(
      '--final-diffusion-steps <n>',
      'diffusion steps at the last stage-2 step, annealed linearly from --diffusion-steps at the first (DiSA; default: the model’s, else none)',
      intOption('--final-diffusion-steps', { min: 1, max: 1000 }),
    )
    .option(
      '--diffusion-sampler <s>',
      'the diffusion head’s sampler: ancestral (MAR’s, stochastic), ddim or dpm-solver++ (deterministic; default: the model’s)',
      choiceOption('--diffusion-sampler', DIFFUSION_SAMPLERS),
    )
    .option('--stage2-clip <x>', 'bound on the diffusion head’s predicted x0 (0: off)', numberOption('--stage2-clip', { min: 0 }))
    .option(
      '--head-precision <p>',
      'compute precision of the diffusion head alone: fp32, bf16, or auto (bf16 where the CPU has bf16 matrix instructions; default: the model’s)',
      choiceOption('--head-precision', torch.PRECISION_CHOICES),
    )
    .option(
      '--head-guidance <g>',
      "how the diffusion head applies guidance: cfg (conditional and unconditional rows) or distilled (the stage 2's distilled head, one row; default: the model's)",
      choiceOption('--head-guidance', HEAD_GUIDANCES),
    );
}

export interface SamplingFlags {
  stage1Cfg?: number;
  stage1Temperature?: number;
  topK?: number;
  topP?: number;
  stage2Cfg?: number;
  cfgSchedule?: 'linear' | 'constant';
  stage2Temperature?: number;
  steps?: number;
  diffusionSteps?: number;
  finalDiffusionSteps?: number;
  diffusionSampler?: DiffusionSampler;
  stage2Clip?: number;
  headPrecision?: torch.PrecisionChoice;
  headGuidance?: HeadGuidance;
}

/** The stage settings the flags give (those not given are left out, so the model's own apply). */
export function samplingSettings(f: SamplingFlags): { stage1: Partial<Stage1Options>; stage2: Partial<Stage2Options> } {
  const clean = <T extends object>(o: T) =>
    Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
  return {
    stage1: clean({ cfg: f.stage1Cfg, temperature: f.stage1Temperature, topK: f.topK, topP: f.topP }),
    stage2: clean({
      cfg: f.stage2Cfg,
      cfgSchedule: f.cfgSchedule,
      temperature: f.stage2Temperature,
      steps: f.steps,
      clip: f.stage2Clip,
      diffusionSteps: f.diffusionSteps,
      finalDiffusionSteps: f.finalDiffusionSteps,
      diffusionSampler: f.diffusionSampler,
      headPrecision: f.headPrecision,
      headGuidance: f.headGuidance,
    }),
  };
}

export function generateOptions(f: SamplingFlags, classes: number[], seed: number): GenerateOptions {
  return { classes, seed, ...samplingSettings(f) };
}

/** The model folder on --device (checked first: a missing GPU is its own error), sampling at --precision. */
export function loadModel(dir: string, o: Partial<DeviceFlags> & PrecisionFlags = {}): D2C {
  const device = o.device ? runDevice(o.device) : undefined;
  try {
    return D2C.fromPretrained(dir, { device, precision: o.precision });
  } catch (e) {
    throw new UsageError(`--model: ${(e as Error).message}`);
  }
}

/** Interleaves preview and final rows: for each row of `nrow` images, its previews then its images. */
export function previewRows(preview: Tensor, images: Tensor, nrow: number): Tensor {
  const B = images.shape[0];
  const rows: Tensor[] = [];
  for (let i = 0; i < B; i += nrow) {
    const n = Math.min(nrow, B - i);
    rows.push(preview.narrow(0, i, n), images.narrow(0, i, n));
  }
  return torch.cat(rows, 0);
}

export function register(program: Command): void {
  samplingDeviceOptions(
    samplingOptions(
      program
        .command('sample')
        .description('sample class-conditional images from a D2C model folder')
        .option('--model <dir>', 'D2C model folder', DEFAULT_MODEL)
        .option(
          '--class <c>',
          'class index or name, comma-separated or repeated (default: every class in turn)',
          (v: string, p: string[] = []) => [...p, ...v.split(',')],
        )
        .option('--n <n>', 'number of images', positiveInt('--n'), 16)
        .option('--seed <n>', 'seed', intOption('--seed', { min: 0 }), 0)
        .option('--out <file>', 'PNG grid to write', 'out/sample.png')
        .option('--single <dir>', 'also write each image as DIR/<i>_<class>.png')
        .option('--preview', 'put the stage-1 preview (VQ-decoded codes) above each row of images', false)
        .option('--nrow <n>', 'images per grid row', positiveInt('--nrow'), 8)
        .option('--threads <n>', 'intra-op threads', positiveInt('--threads'), 2),
    ),
  ).action(
    async (
      o: SamplingFlags &
        DeviceFlags &
        PrecisionFlags & {
          model: string;
          class?: string[];
          n: number;
          seed: number;
          out: string;
          single?: string;
          preview: boolean;
          nrow: number;
          threads: number;
        },
    ) => {
      torch.setNumThreads(o.threads);
      const m = loadModel(o.model, o);
      let classes: number[];
      try {
        const asked = (o.class ?? []).map((c) => m.classIndex(c.trim()));
        classes = Array.from({ length: o.n }, (_, i) => (asked.length ? asked[i % asked.length] : i % m.classes.length));
      } catch (e) {
        throw new UsageError(`--class: ${(e as Error).message}`);
      }
      const bar = progressBar('sample');
      const t0 = performance.now();
      const r = m.generate({ ...generateOptions(o, classes, o.seed), preview: o.preview }, (p) =>
        bar.update(p.step, p.total, p.stage),
      );
      bar.done();
      mkdirSync(dirname(o.out), { recursive: true });
      const nrow = Math.min(o.nrow, o.n);
      if (o.preview && !r.preview) throw new UsageError(`--preview: ${o.model} is a MAR-only model, it has no stage-1 preview`);
      const grid = o.preview && r.preview ? previewRows(r.preview, r.images, nrow) : r.images;
      await saveImageGrid(grid, o.out, { nrow });
      if (o.single) {
        mkdirSync(o.single, { recursive: true });
        await saveImages(r.images, (i) =>
          join(o.single as string, `${String(i).padStart(4, '0')}_${m.classes[classes[i]].replace(/[^\w-]+/g, '_')}.png`),
        );
      }
      torch.dispose([r, grid]);
      process.stderr.write(`${o.n} images in ${((performance.now() - t0) / 1000).toFixed(1)} s → ${o.out}\n`);
    },
  );
}
