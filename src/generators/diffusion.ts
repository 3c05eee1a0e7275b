// Gaussian diffusion for MAR's per-token diffusion head: cosine schedule, learned-range σ
// (MSE on ε plus the VLB term), timestep respacing and ancestral sampling with temperature.
// Reference: LTH14/mar diffusion/gaussian_diffusion.py, respace.py, diffusion_utils.py (from
// DiT / IDDPM). Schedules are float64 as in the reference; per-step coefficients are gathered by
// timestep and cast to float32 before they touch the model's tensors (`_extract_into_tensor`).

import type { Generator, Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';
import {
  alphasCumprod,
  type DiffusionCoefficients,
  diffusionCoefficients,
  respacedSchedule,
  solverCoefficients,
  stepCoefficients,
} from './schedules.ts';

export { cosineBetas, spaceTimesteps } from './schedules.ts';

/** A denoiser: `(x_t [N, C], t [N] int64 in the original 0..T-1 scale) -> [N, 2C]` (ε and σ fraction). */
export type DenoiseFn = (x: Tensor, t: Tensor) => Tensor;

/** A denoiser for sampling, every row at respaced step `i`: x_t [N, C] → ε̂ and the σ fraction v, [N, C] each. */
export type StepDenoiser = (x: Tensor, i: number) => { eps: Tensor; v: Tensor };

const LN2 = Math.log(2);

export interface SampleStepOptions {
  temperature?: number;
  generator?: Generator;
  /** Clamp x̂₀ to [−clip, clip] before the posterior mean (0: off, as the reference). */
  clip?: number;
  /**
   * The rows are CFG's conditional half of a batch twice their size: draw each step's noise for
   * the whole batch and use the first half, so the random stream is the reference's.
   */
  mirrored?: boolean;
}

export class GaussianDiffusion {
  readonly numTimesteps: number;
  readonly betas: Float64Array;
  /** Respaced index -> original timestep (what the network is conditioned on). */
  readonly timestepMap: number[];
  readonly alphasCumprod: Float64Array;
  private readonly coef: DiffusionCoefficients;
  private readonly cache = new Map<string, Tensor>();

  constructor(betas: Float64Array, timestepMap?: number[]) {
    const T = betas.length;
    if (T === 0 || betas.some((b) => !(b > 0 && b <= 1))) throw new Error('GaussianDiffusion: betas must lie in (0, 1]');
    this.numTimesteps = T;
    this.betas = betas;
    this.timestepMap = timestepMap ?? Array.from({ length: T }, (_, i) => i);
    this.alphasCumprod = alphasCumprod(betas);
    this.coef = diffusionCoefficients(betas);
  }

  /** `coef[name][t]` as float32 [N, 1, ...] to broadcast against `like`. */
  private extract(name: keyof DiffusionCoefficients, t: Tensor, like: Tensor): Tensor {
    const key = `${name}@${t.device}`;
    let table = this.cache.get(key);
    if (!table) {
      table = torch.keep(torch.tensor(this.coef[name], { device: t.device }));
      this.cache.set(key, table);
    }
    let v = table.index([t]).float();
    while (v.ndim < like.ndim) v = v.unsqueeze(-1);
    return v;
  }

  /** Original-scale timesteps for respaced indices (respace.py's _WrappedModel). */
  mapTimesteps(t: Tensor): Tensor {
    const key = `map@${t.device}`;
    let table = this.cache.get(key);
    if (!table) {
      table = torch.keep(torch.tensor(BigInt64Array.from(this.timestepMap.map(BigInt)), { device: t.device }));
      this.cache.set(key, table);
    }
    return table.index([t]);
  }

  /** x_t ~ q(x_t | x_0) with the given noise. */
  qSample(xStart: Tensor, t: Tensor, noise: Tensor): Tensor {
    return this.extract('sqrtAc', t, xStart)
      .mul(xStart)
      .add(this.extract('sqrt1mAc', t, xStart).mul(noise));
  }

  /** Mean and clipped log-variance of q(x_{t-1} | x_t, x_0). */
  qPosterior(xStart: Tensor, xT: Tensor, t: Tensor): { mean: Tensor; logVariance: Tensor } {
    const mean = this.extract('postMeanCoef1', t, xT)
      .mul(xStart)
      .add(this.extract('postMeanCoef2', t, xT).mul(xT));
    return { mean, logVariance: this.extract('postLogVarClipped', t, xT).expand(...xT.shape) };
  }

  /**
   * p(x_{t-1} | x_t) from a network output [N, 2C] (ε, v): the log-variance interpolates between
   * the posterior's and β_t's with frac = (v + 1) / 2 (IDDPM's LEARNED_RANGE); no clipping of x_0.
   */
  pMeanVarianceFromOutput(
    out: Tensor,
    x: Tensor,
    t: Tensor,
    clip = 0,
  ): { mean: Tensor; logVariance: Tensor; predXstart: Tensor; eps: Tensor } {
    const C = x.shape[1];
    if (out.shape[1] !== 2 * C) throw new Error(`p_mean_variance: model output has ${out.shape[1]} channels, expected ${2 * C}`);
    const [eps, v] = out.split(C, 1);
    const minLog = this.extract('postLogVarClipped', t, x);
    const maxLog = this.extract('logBetas', t, x);
    const frac = v.add(1).div(2);
    const logVariance = frac.mul(maxLog).add(frac.rsub(1).mul(minLog));
    let predXstart = this.extract('sqrtRecipAc', t, x)
      .mul(x)
      .sub(this.extract('sqrtRecipm1Ac', t, x).mul(eps));
    // IDDPM's clip_denoised with a bound: near t = T, 1/√ᾱ_t ≈ 2·10⁴ amplifies any error of ε̂
    // into x̂₀, which an under-trained head cannot afford. 0 (the reference's choice) disables it.
    if (clip > 0) predXstart = predXstart.clamp(-clip, clip);
    const { mean } = this.qPosterior(predXstart, x, t);
    return { mean, logVariance, predXstart, eps };
  }

  /** `p_mean_variance` with `t` a respaced index; the model sees the original timestep. */
  pMeanVariance(model: DenoiseFn, x: Tensor, t: Tensor, clip = 0): { mean: Tensor; logVariance: Tensor; predXstart: Tensor } {
    return this.pMeanVarianceFromOutput(model(x, this.mapTimesteps(t)), x, t, clip);
  }

  /**
   * One ancestral step x_t → x_{t−1} at respaced step i, every row at that step, from the
   * denoiser's ε̂ and σ fraction v: `p_mean_variance` then `p_sample` (noise scaled by the
   * temperature, MAR's addition; none at t = 0), with the step's coefficients as scalars, the
   * values the reference gathers per row, folded so the step takes six tensor ops instead of ~25.
   */
  pSampleStep(eps: Tensor, v: Tensor, x: Tensor, i: number, opts: SampleStepOptions = {}): Tensor {
    const { a, b, c1, c2, meanX, meanEps, slope, offset } = stepCoefficients(this.coef, i);
    const clip = opts.clip ?? 0;
    // x̂₀ = a·x − b·ε̂ and mean = c1·x̂₀ + c2·x; without the bound that is one affine map of (x, ε̂).
    const mean = clip > 0 ? x.mul(a).sub(eps, b).clamp(-clip, clip).mul(c1).add(x, c2) : x.mul(meanX).sub(eps, meanEps);
    // The reference draws noise at every step, t = 0 included; so do we, to keep its random stream.
    const rows = opts.mirrored ? 2 * x.shape[0] : x.shape[0];
    let noise = torch.randn([rows, ...x.shape.slice(1)], { generator: opts.generator, dtype: x.dtype, device: x.device });
    if (opts.mirrored) noise = noise.narrow(0, 0, x.shape[0]);
    if (i === 0) return mean;
    // σ = exp(½·logvar), logvar = lo + (hi − lo)·(v + 1)/2  →  σ = exp(v·slope + offset)
    const std = v.mul(slope).add(offset).exp();
    return torch.F.addcmul(mean, std, noise, opts.temperature ?? 1);
  }

  /** Runs every respaced step from `noise` down to t = 0 (no autograd); returns x_0. */
  sampleLoop(model: StepDenoiser, noise: Tensor, opts: SampleStepOptions = {}): Tensor {
    return torch.noGrad(() => {
      let x = noise;
      for (let i = this.numTimesteps - 1; i >= 0; i--) {
        const prev = x;
        x = torch.tidy(() => {
          const { eps, v } = model(prev, i);
          return this.pSampleStep(eps, v, prev, i, opts);
        });
        if (prev !== noise) prev.dispose();
      }
      return x;
    });
  }

  /**
   * The deterministic solvers of schedules.ts (`solverCoefficients`) over every respaced step from
   * `noise` down to t = 0: order 1 is DDIM (η = 0), order 2 DPM-Solver++(2M). Only ε̂ is used (the
   * σ fraction v is a variance, which an ODE step has none of); `clip` bounds x̂₀ as in
   * pSampleStep. No autograd; returns x_0.
   */
  solverLoop(model: StepDenoiser, noise: Tensor, opts: { order: 1 | 2; clip?: number }): Tensor {
    const clip = opts.clip ?? 0;
    return torch.noGrad(() => {
      let x = noise;
      let prevX0: Tensor | null = null;
      for (let i = this.numTimesteps - 1; i >= 0; i--) {
        const k = solverCoefficients(this.alphasCumprod, i);
        const xi: Tensor = x;
        const x0i: Tensor | null = prevX0;
        [x, prevX0] = torch.tidy((): [Tensor, Tensor] => {
          const { eps } = model(xi, i);
          let x0 = xi.mul(k.a).sub(eps, k.b);
          if (clip > 0) x0 = x0.clamp(-clip, clip);
          const d = opts.order === 2 && k.r !== null && x0i ? x0.mul(1 + 1 / (2 * k.r)).sub(x0i, 1 / (2 * k.r)) : x0;
          return [xi.mul(k.xCoef).add(d, k.dataCoef), x0];
        });
        if (xi !== noise) xi.dispose();
        x0i?.dispose();
      }
      prevX0?.dispose();
      return x;
    });
  }

  /** `sampleLoop` for a denoiser called with per-row timesteps, as `p_sample_loop` calls the model. */
  pSampleLoop(model: DenoiseFn, noise: Tensor, opts: SampleStepOptions = {}): Tensor {
    const [N, C] = noise.shape;
    const step: StepDenoiser = (x, i) => {
      const out = model(x, this.mapTimesteps(torch.full([N], i, { dtype: 'int64', device: x.device })));
      if (out.shape[1] !== 2 * C) throw new Error(`p_sample: model output has ${out.shape[1]} channels, expected ${2 * C}`);
      const [eps, v] = out.split(C, 1);
      return { eps, v };
    };
    return this.sampleLoop(step, noise, opts);
  }

  /**
   * The training loss of one draw (`training_losses`, loss type MSE with learned-range σ):
   * mse = mean((ε - ε̂)²), vb = the VLB term in bits with ε̂ frozen, loss = mse + vb. All [N].
   */
  trainingLosses(model: DenoiseFn, xStart: Tensor, t: Tensor, noise: Tensor): { loss: Tensor; mse: Tensor; vb: Tensor } {
    const xT = this.qSample(xStart, t, noise);
    const out = model(xT, this.mapTimesteps(t));
    const C = xStart.shape[1];
    const [eps, v] = out.split(C, 1);
    // The VLB trains σ only: the mean goes through it detached (IDDPM, "hybrid" objective).
    const frozen = torch.cat([eps.detach(), v], 1);
    const vb = this.vbTermsBpd(frozen, xStart, xT, t);
    const mse = noise.sub(eps).square().mean(1);
    return { loss: mse.add(vb), mse, vb };
  }

  /** KL(q(x_{t-1}|x_t,x_0) || p(x_{t-1}|x_t)) in bits, or the decoder NLL at t = 0. [N] */
  private vbTermsBpd(out: Tensor, xStart: Tensor, xT: Tensor, t: Tensor): Tensor {
    const truth = this.qPosterior(xStart, xT, t);
    const p = this.pMeanVarianceFromOutput(out, xT, t);
    const kl = normalKl(truth.mean, truth.logVariance, p.mean, p.logVariance).mean(1).div(LN2);
    const nll = discretizedGaussianLogLikelihood(xStart, p.mean, p.logVariance.mul(0.5)).neg().mean(1).div(LN2);
    return torch.where(t.eq(0), nll, kl);
  }
}

/** KL divergence between two diagonal Gaussians given by mean and log-variance (elementwise). */
export function normalKl(mean1: Tensor, logvar1: Tensor, mean2: Tensor, logvar2: Tensor): Tensor {
  return logvar2
    .sub(1)
    .sub(logvar1)
    .add(logvar1.sub(logvar2).exp())
    .add(mean1.sub(mean2).square().mul(logvar2.neg().exp()))
    .mul(0.5);
}

/** Φ(x) through the tanh approximation that diffusion_utils.py uses. */
function approxStandardNormalCdf(x: Tensor): Tensor {
  return x
    .add(x.pow(3).mul(0.044715))
    .mul(Math.sqrt(2 / Math.PI))
    .tanh()
    .add(1)
    .mul(0.5);
}

/** Log-likelihood of x (8-bit data in [-1, 1]) under a Gaussian discretised into bins of 2/255. */
export function discretizedGaussianLogLikelihood(x: Tensor, means: Tensor, logScales: Tensor): Tensor {
  const centered = x.sub(means);
  const invStdv = logScales.neg().exp();
  const cdfPlus = approxStandardNormalCdf(invStdv.mul(centered.add(1 / 255)));
  const cdfMin = approxStandardNormalCdf(invStdv.mul(centered.sub(1 / 255)));
  const logCdfPlus = cdfPlus.clamp(1e-12).log();
  const logOneMinusCdfMin = cdfMin.rsub(1).clamp(1e-12).log();
  const logDelta = cdfPlus.sub(cdfMin).clamp(1e-12).log();
  return torch.where(x.lt(-0.999), logCdfPlus, torch.where(x.gt(0.999), logOneMinusCdfMin, logDelta));
}

/**
 * A cosine diffusion as MAR's `create_diffusion(respacing, "cosine")`: "" keeps all `steps`
 * (training); "100", "10", … keep that many, with betas recomputed from ᾱ of the kept steps.
 */
export function createDiffusion(respacing = '', steps = 1000): GaussianDiffusion {
  const { betas, timestepMap } = respacedSchedule(respacing, steps);
  return new GaussianDiffusion(betas, timestepMap);
}
