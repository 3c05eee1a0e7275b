// The two-stage D2C sampler behind a small transformers.js-style API:
//   const d2c = D2C.fromPretrained('d2c-fmnist');
//   const { images, preview } = d2c.generate({ classes: [7, 7], seed: 0 }, (p) => …);
// Stage 1 (GPT) samples the VQ code grid; its VQ decoding is the coarse preview. Stage 2 (MAR +
// diffusion head) samples KL latents conditioned on the class and those codes; the KL decoder
// renders the image (docs/DESIGN.md). A MAR-only folder (stage 2 with fusion 'none', packed
// without stage 1 and the VQ) skips stage 1; `stage1Only` stops after it (the discrete baseline);
// `codes` replaces stage 1's draw by given codes (the oracle of `d2c eval --oracle`).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { GPT } from '../generators/gpt.ts';
import { generate as sampleCodes } from '../generators/gpt_sample.ts';
import type { MAR } from '../generators/mar.ts';
import { sampleTokens } from '../generators/mar_sample.ts';
import { checkDiffusionSampler, type DiffusionSampler, HEAD_GUIDANCES, type HeadGuidance } from '../generators/schedules.ts';
import { readJsonFile } from '../io/json_file.ts';
import type { AutoencoderKL } from '../tokenizers/kl.ts';
import type { VQModel } from '../tokenizers/vq.ts';
import type { DType, Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';
import { resolveModelDir, shippedHint } from './model_dir.ts';
import { type LoadOptions, loadPart, type PartConfig } from './parts.ts';

export interface Stage1Options {
  cfg: number;
  temperature: number;
  topK: number;
  topP: number;
}

export interface Stage2Options {
  cfg: number;
  cfgSchedule: 'linear' | 'constant';
  temperature: number;
  /** Autoregressive steps of MAR. */
  steps: number;
  /** Bound on the diffusion head's x̂₀ (0: off); a model folder's d2c.json sets its own. */
  clip?: number;
  /** Steps of the diffusion head's sampler (default: the stage-2 config's numSamplingSteps). */
  diffusionSteps?: number;
  /** Diffusion steps at the last AR step, annealed linearly from `diffusionSteps` at the first (DiSA); absent: no annealing. */
  finalDiffusionSteps?: number;
  /** The diffusion head's sampler: `ancestral` (MAR's; the default when absent), `ddim` or `dpm-solver++`. */
  diffusionSampler?: DiffusionSampler;
  /**
   * Compute precision of the diffusion head alone: `bf16` runs each of its steps in bfloat16 (x's
   * update stays float32), which bf16 matrix kernels make cheaper; `fp32` (the default when absent)
   * as trained; `auto` bf16 where the device has those kernels (torch.fastBf16), else fp32.
   * `precision` (fromPretrained) covers every network instead.
   */
  headPrecision?: torch.PrecisionChoice;
  /**
   * How the diffusion head applies the guidance: `cfg` (the default when absent) runs the
   * transformer and the head on conditional and unconditional rows; `distilled` uses the stage 2's
   * guidance-distilled head (`d2c train guided-head`), one row per image, about half the work.
   */
  headGuidance?: HeadGuidance;
}

/** stage2.headPrecision resolved for the model's device (absent: fp32), or an error naming the value. */
function headPrecisionOf(p: torch.PrecisionChoice | undefined, device: string): torch.Precision {
  if (p === undefined) return 'fp32';
  if (!torch.PRECISION_CHOICES.includes(p))
    throw new Error(
      `generate: stage2.headPrecision must be one of ${torch.PRECISION_CHOICES.join(', ')}, got ${JSON.stringify(p)}`,
    );
  return torch.resolvePrecision(p, device);
}

/** d2c.json: what the model folder holds beyond its four parts. */
export interface D2CModelInfo {
  format: 'd2c-model/1';
  name: string;
  classes: string[];
  imageSize: number;
  channels: number;
  /** Absent for a MAR-only folder. */
  stage1?: Stage1Options;
  stage2: Stage2Options;
}

export interface GenerateOptions {
  /** One class index per image. */
  classes: number[];
  seed?: number;
  stage1?: Partial<Stage1Options>;
  stage2?: Partial<Stage2Options>;
  /** Stop after stage 1: `images` are the VQ-decoded codes (the discrete-only baseline). */
  stage1Only?: boolean;
  /** Codes [B, L] to condition stage 2 on instead of sampling them (oracle); the caller keeps them. */
  codes?: Tensor;
  /**
   * Decode the stage-1 preview of the final images (default true); false skips that VQ decoding
   * (`preview` is then null), which final images alone (`d2c eval`) do not need.
   */
  preview?: boolean;
  /**
   * Stops the generation at the next stage-1 code or stage-2 step with the signal's reason, every
   * tensor freed. An AbortSignal, or anything whose throwIfAborted throws once the work should stop
   * (the server's model worker checks a flag shared with the HTTP thread).
   */
  signal?: Pick<AbortSignal, 'throwIfAborted'>;
}

export interface GenerateProgress {
  stage: 'stage1' | 'stage2' | 'decode';
  step: number;
  total: number;
}

export interface GenerateResult {
  /** float32 [B, C, H, W] in [−1, 1] (the caller disposes). */
  images: Tensor;
  /** The stage-1 codes decoded by the VQ decoder, same shape; null for a MAR-only model or with `preview: false`. */
  preview: Tensor | null;
  /** Stage-1 codes [B, L] int64; null for a MAR-only model. */
  codes: Tensor | null;
}

export const PART_DIRS = { vq: 'vq', kl: 'kl', stage1: 'stage1', stage2: 'stage2' } as const;

export class D2C {
  private constructor(
    readonly info: D2CModelInfo,
    readonly vq: VQModel | null,
    readonly kl: AutoencoderKL,
    readonly stage1: GPT | null,
    readonly stage2: MAR,
    readonly parts: { kl: PartConfig; stage2: PartConfig; vq?: PartConfig; stage1?: PartConfig },
  ) {}

  /** Compute precision of `generate` (bf16: its linear, conv and attention ops; torch.autocast). */
  precision: torch.Precision = 'fp32';

  /** Steps of the diffusion head's sampler when a request gives none: d2c.json's, else the config's respacing. */
  get diffusionSteps(): number {
    return this.info.stage2.diffusionSteps ?? this.stage2.diffloss.genDiffusion.timestepMap.length;
  }

  /** True for a MAR-only folder: no stage 1, no VQ, no preview. */
  get marOnly(): boolean {
    return this.stage1 === null;
  }

  /**
   * Loads a model folder (d2c.json + vq/ kl/ stage1/ stage2/) — a path from the current directory,
   * or the name of a model shipped with d2c (`d2c-fmnist`) — onto `device` (cpu, cuda, cuda:N; a GPU
   * where libtorch has none is an error); `precision` is generate's (default fp32).
   */
  static fromPretrained(nameOrDir: string, o: { device?: string; dtype?: DType; precision?: torch.Precision } = {}): D2C {
    if (o.device) torch.checkDevice(o.device);
    if (o.precision && !torch.PRECISIONS.includes(o.precision))
      throw new Error(`precision must be one of ${torch.PRECISIONS.join(', ')}, got '${o.precision}'`);
    const d2c = D2C.load(resolveModelDir(nameOrDir), o);
    d2c.precision = o.precision ?? 'fp32';
    return d2c;
  }

  private static load(dir: string, o: { device?: string; dtype?: DType }): D2C {
    const infoPath = join(dir, 'd2c.json');
    if (!existsSync(infoPath)) {
      throw new Error(
        `${dir} is not a d2c model folder: it has no d2c.json (expected d2c.json with vq/, kl/, stage1/, stage2/)${shippedHint(dir)}`,
      );
    }
    const info = readJsonFile(infoPath) as D2CModelInfo;
    if (info.format !== 'd2c-model/1') throw new Error(`${infoPath}: unknown format ${JSON.stringify(info.format)}`);
    const lo: LoadOptions = { device: o.device, dtype: o.dtype };
    const load = (sub: string, kind: string) => {
      const r = loadPart(join(dir, sub), lo);
      if (r.config.kind !== kind) throw new Error(`${join(dir, sub)} holds a ${r.config.kind} model, expected ${kind}`);
      return r;
    };
    const kl = load(PART_DIRS.kl, 'kl');
    const s2 = load(PART_DIRS.stage2, 'mar');
    const fusion = (s2.model as MAR).cfg.fusion;
    const hasStage1 = existsSync(join(dir, PART_DIRS.stage1));
    if (!hasStage1 && fusion !== 'none')
      throw new Error(`${dir} has no stage1/ folder, but its stage 2 (fusion ${fusion}) is conditioned on stage-1 codes`);
    if (!hasStage1)
      return new D2C(info, null, kl.model as AutoencoderKL, null, s2.model as MAR, { kl: kl.config, stage2: s2.config });
    const vq = load(PART_DIRS.vq, 'vq');
    const s1 = load(PART_DIRS.stage1, 'gpt');
    return new D2C(info, vq.model as VQModel, kl.model as AutoencoderKL, s1.model as GPT, s2.model as MAR, {
      vq: vq.config,
      kl: kl.config,
      stage1: s1.config,
      stage2: s2.config,
    });
  }

  get classes(): string[] {
    return this.info.classes;
  }

  /** A class index from an index or a name (case-insensitive); throws naming the known classes. */
  classIndex(c: string | number): number {
    const n =
      typeof c === 'number'
        ? c
        : /^\d+$/.test(c)
          ? Number(c)
          : this.classes.findIndex((k) => k.toLowerCase() === c.toLowerCase());
    if (!Number.isInteger(n) || n < 0 || n >= this.classes.length) {
      throw new Error(
        `unknown class ${JSON.stringify(c)} (expected 0..${this.classes.length - 1} or one of: ${this.classes.join(', ')})`,
      );
    }
    return n;
  }

  /** Samples one image per entry of `classes`; the same options and seed give the same images. */
  generate(o: GenerateOptions, onProgress?: (p: GenerateProgress) => void): GenerateResult {
    if (this.precision !== 'fp32' && torch.autocastDtype() === null)
      return torch.autocast(this.precision, () => this.generate(o, onProgress));
    const s2 = { ...this.info.stage2, ...o.stage2 };
    for (const c of o.classes) this.classIndex(c);
    if (o.classes.length === 0) throw new Error('generate: classes is empty');
    if (s2.diffusionSampler !== undefined) checkDiffusionSampler(s2.diffusionSampler);
    const headPrecision = headPrecisionOf(s2.headPrecision, this.stage2.fake_latent.device);
    if (s2.headGuidance !== undefined && !HEAD_GUIDANCES.includes(s2.headGuidance))
      throw new Error(
        `generate: stage2.headGuidance must be one of ${HEAD_GUIDANCES.join(', ')}, got ${JSON.stringify(s2.headGuidance)}`,
      );
    // before stage 1 runs: DiffLoss.distilledNet's error says how to get the head
    if (s2.headGuidance === 'distilled') {
      try {
        this.stage2.diffloss.distilledNet();
      } catch (e) {
        throw new Error(`generate: ${this.info.name}: ${(e as Error).message}`);
      }
    }
    for (const k of ['diffusionSteps', 'finalDiffusionSteps'] as const) {
      const v = s2[k];
      if (v !== undefined && !(Number.isInteger(v) && v >= 1 && v <= 1000))
        throw new Error(`generate: stage2.${k} must be an integer in 1..1000, got ${v}`);
    }
    if (this.marOnly && (o.stage1Only || o.codes))
      throw new Error(`generate: ${this.info.name} is a MAR-only model (no stage 1): stage1Only and codes do not apply`);
    const B = o.classes.length;
    if (o.codes && (o.codes.ndim !== 2 || o.codes.shape[0] !== B || o.codes.shape[1] !== this.stage2.seqLen))
      throw new Error(`generate: codes must be [${B}, ${this.stage2.seqLen}], got [${o.codes.shape}]`);
    const device = this.stage2.fake_latent.device;
    const g = new torch.Generator(o.seed ?? 0, device);
    o.signal?.throwIfAborted();
    return torch.noGrad(() =>
      torch.tidy(() => {
        const labels = torch.tensor(o.classes, { dtype: 'int64', device });
        const codes = this.stageOneCodes(labels, o, g, onProgress);
        const preview = codes && this.vq && (o.preview !== false || o.stage1Only) ? this.decodeCodes(codes) : null;
        if (o.stage1Only && preview && codes) {
          onProgress?.({ stage: 'decode', step: 1, total: 1 });
          return { images: preview.clone(), preview, codes };
        }
        const latents = sampleTokens(this.stage2, B, {
          labels,
          codes: this.stage2.cfg.fusion === 'none' ? null : codes,
          numIter: s2.steps,
          cfg: s2.cfg,
          cfgSchedule: s2.cfgSchedule,
          temperature: s2.temperature,
          clip: s2.clip ?? 0,
          diffusionSteps: s2.diffusionSteps,
          finalDiffusionSteps: s2.finalDiffusionSteps,
          diffusionSampler: s2.diffusionSampler,
          headPrecision,
          headGuidance: s2.headGuidance,
          generator: g,
          progress: (step, total) => onProgress?.({ stage: 'stage2', step, total }),
          signal: o.signal,
        }); // [B, D, g, g] scaled
        const images = this.kl.decodeLatents(latents).clamp(-1, 1);
        onProgress?.({ stage: 'decode', step: 1, total: 1 });
        return { images, preview, codes };
      }),
    );
  }

  /** Codes [B, L] decoded by the VQ decoder, in [−1, 1]. */
  decodeCodes(codes: Tensor): Tensor {
    if (!this.vq) throw new Error(`${this.info.name} has no VQ tokenizer (MAR-only)`);
    const [B, L] = codes.shape;
    const side = Math.round(Math.sqrt(L));
    return this.vq.decodeCodes(codes.view(B, side, side)).clamp(-1, 1);
  }

  /** Stage 1's codes for the labels (or the given ones); null for a MAR-only model. */
  private stageOneCodes(
    labels: Tensor,
    o: GenerateOptions,
    g: torch.Generator,
    onProgress?: (p: GenerateProgress) => void,
  ): Tensor | null {
    if (!this.stage1) return null;
    if (o.codes) return o.codes.clone();
    const s1 = { ...(this.info.stage1 as Stage1Options), ...o.stage1 };
    onProgress?.({ stage: 'stage1', step: 0, total: 1 });
    const codes = sampleCodes(this.stage1, labels, {
      cfgScale: s1.cfg,
      temperature: s1.temperature,
      topK: s1.topK,
      topP: s1.topP,
      generator: g,
      signal: o.signal,
    }); // [B, L]
    onProgress?.({ stage: 'stage1', step: 1, total: 1 });
    return codes;
  }
}
