// The sampling schedules and per-step arithmetic of D2C as plain functions of numbers, with no
// tensor library: the libtorch sampler (mar_sample.ts, diffusion.ts) and the browser sampler
// (src/web/) both use these, so the two cannot drift apart.
//   MAR: the cosine masking schedule and the CFG scale per step (LTH14/mar models/mar.py).
//   Diffusion: IDDPM's cosine betas, timestep respacing, and the folded coefficients of one
//   ancestral step (LTH14/mar diffusion/gaussian_diffusion.py, respace.py).

/**
 * `mask_len` of each step as MAR computes it: ⌊L·cos(π/2·(s+1)/n)⌋, clamped to [1, masked − 1] so
 * each step predicts at least one token while more than one remains. It also sets the linear CFG
 * scale, so it stays ≥ 1 at the last step, where every remaining token is predicted regardless.
 */
export function maskSchedule(seqLen: number, numIter: number): number[] {
  if (!Number.isInteger(numIter) || numIter < 1)
    throw new Error(`maskSchedule: numIter must be a positive integer, got ${numIter}`);
  const out: number[] = [];
  let masked = seqLen;
  for (let step = 0; step < numIter; step++) {
    const ratio = Math.cos(((Math.PI / 2) * (step + 1)) / numIter);
    masked = Math.max(1, Math.min(masked - 1, Math.floor(seqLen * ratio)));
    out.push(masked);
  }
  return out;
}

/** The CFG scale at a step with `maskLen` tokens still masked afterwards. */
export function cfgAt(cfg: number, schedule: 'linear' | 'constant', seqLen: number, maskLen: number): number {
  if (schedule === 'constant') return cfg;
  if (schedule === 'linear') return 1 + ((cfg - 1) * (seqLen - maskLen)) / seqLen;
  throw new Error(`unknown cfg schedule '${schedule}' (expected linear | constant)`);
}

/** IDDPM's cosine ᾱ(t) (s = 0.008), discretised into betas capped at `maxBeta`. */
export function cosineBetas(numSteps: number, maxBeta = 0.999): Float64Array {
  const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  const betas = new Float64Array(numSteps);
  for (let i = 0; i < numSteps; i++) {
    betas[i] = Math.min(1 - alphaBar((i + 1) / numSteps) / alphaBar(i / numSteps), maxBeta);
  }
  return betas;
}

/** Python's round(): halves go to the even neighbour (respace.py rounds with it). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * The original timesteps kept by a respacing such as "100", "10" or "10,15,20" (sections of
 * equal length, each strided evenly with its own count) or "ddim50"; sorted ascending.
 */
export function spaceTimesteps(numTimesteps: number, spec: string): number[] {
  if (spec === '') return Array.from({ length: numTimesteps }, (_, i) => i);
  if (spec.startsWith('ddim')) {
    const want = Number(spec.slice(4));
    for (let stride = 1; stride < numTimesteps; stride++) {
      const count = Math.ceil(numTimesteps / stride);
      if (count === want) return Array.from({ length: count }, (_, i) => i * stride);
    }
    throw new Error(`spaceTimesteps: cannot make exactly ${want} ddim steps from ${numTimesteps}`);
  }
  const counts = spec.split(',').map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1) throw new Error(`spaceTimesteps: bad section count '${s}' in '${spec}'`);
    return n;
  });
  const sizePer = Math.floor(numTimesteps / counts.length);
  const extra = numTimesteps % counts.length;
  const steps = new Set<number>();
  let start = 0;
  counts.forEach((count, i) => {
    const size = sizePer + (i < extra ? 1 : 0);
    if (size < count) throw new Error(`spaceTimesteps: cannot take ${count} steps from a section of ${size}`);
    const stride = count <= 1 ? 1 : (size - 1) / (count - 1);
    // Accumulate by addition, as respace.py does, so rounding ties fall the same way.
    let cur = 0;
    for (let k = 0; k < count; k++) {
      steps.add(start + roundHalfEven(cur));
      cur += stride;
    }
    start += size;
  });
  return [...steps].sort((a, b) => a - b);
}

/**
 * MAR's `create_diffusion(respacing, "cosine")` schedule: "" keeps all `steps`; "100", "10", …
 * keep that many, with betas recomputed from ᾱ of the kept steps. `timestepMap[i]` is the
 * original timestep of respaced step i (what the network is conditioned on).
 */
export function respacedSchedule(respacing = '', steps = 1000): { betas: Float64Array; timestepMap: number[] } {
  const base = cosineBetas(steps);
  const keep = spaceTimesteps(steps, respacing);
  if (keep.length === steps) return { betas: base, timestepMap: keep };
  const ac = alphasCumprod(base);
  const betas = new Float64Array(keep.length);
  let last = 1;
  keep.forEach((s, i) => {
    betas[i] = 1 - ac[s] / last;
    last = ac[s];
  });
  return { betas, timestepMap: keep };
}

export function alphasCumprod(betas: Float64Array): Float64Array {
  const ac = new Float64Array(betas.length);
  let prod = 1;
  for (let i = 0; i < betas.length; i++) {
    prod *= 1 - betas[i];
    ac[i] = prod;
  }
  return ac;
}

/** The per-timestep coefficients of a Gaussian diffusion (float64, as the reference). */
export interface DiffusionCoefficients {
  sqrtAc: Float64Array;
  sqrt1mAc: Float64Array;
  sqrtRecipAc: Float64Array;
  sqrtRecipm1Ac: Float64Array;
  /** The posterior variance is 0 at t = 0: its log is clipped to the value at t = 1. */
  postLogVarClipped: Float64Array;
  postMeanCoef1: Float64Array;
  postMeanCoef2: Float64Array;
  logBetas: Float64Array;
}

export function diffusionCoefficients(betas: Float64Array): DiffusionCoefficients {
  const T = betas.length;
  const ac = alphasCumprod(betas);
  const acPrev = Float64Array.from({ length: T }, (_, i) => (i === 0 ? 1 : ac[i - 1]));
  const postVar = Float64Array.from({ length: T }, (_, i) => (betas[i] * (1 - acPrev[i])) / (1 - ac[i]));
  const f = (fn: (i: number) => number) => Float64Array.from({ length: T }, (_, i) => fn(i));
  return {
    sqrtAc: f((i) => Math.sqrt(ac[i])),
    sqrt1mAc: f((i) => Math.sqrt(1 - ac[i])),
    sqrtRecipAc: f((i) => Math.sqrt(1 / ac[i])),
    sqrtRecipm1Ac: f((i) => Math.sqrt(1 / ac[i] - 1)),
    postLogVarClipped: f((i) => (T > 1 ? Math.log(postVar[i === 0 ? 1 : i]) : Number.NaN)),
    postMeanCoef1: f((i) => (betas[i] * Math.sqrt(acPrev[i])) / (1 - ac[i])),
    postMeanCoef2: f((i) => ((1 - acPrev[i]) * Math.sqrt(1 - betas[i])) / (1 - ac[i])),
    logBetas: f((i) => Math.log(betas[i])),
  };
}

/**
 * One ancestral step at respaced step i as scalars (`p_mean_variance` then `p_sample`):
 *   x̂₀ = a·x − b·ε̂;  mean = c1·x̂₀ + c2·x  (= meanX·x − meanEps·ε̂ without the x̂₀ bound);
 *   σ = exp(½·logvar) with logvar = lo + (hi − lo)·(v + 1)/2 = exp(v·slope + offset).
 */
export interface StepCoefficients {
  a: number;
  b: number;
  c1: number;
  c2: number;
  meanX: number;
  meanEps: number;
  slope: number;
  offset: number;
}

export function stepCoefficients(k: DiffusionCoefficients, i: number): StepCoefficients {
  const [a, b, c1, c2] = [k.sqrtRecipAc[i], k.sqrtRecipm1Ac[i], k.postMeanCoef1[i], k.postMeanCoef2[i]];
  const [lo, hi] = [k.postLogVarClipped[i], k.logBetas[i]];
  const slope = (hi - lo) / 4;
  return { a, b, c1, c2, meanX: a * c1 + c2, meanEps: b * c1, slope, offset: lo / 2 + slope };
}

/**
 * x_{t−1} for one element at respaced step i from x_t, the denoiser's ε̂ and σ fraction v, and a
 * standard normal draw (GaussianDiffusion.pSampleStep, element by element): no noise at i = 0.
 */
export function ancestralStep(
  k: StepCoefficients,
  i: number,
  x: number,
  eps: number,
  v: number,
  noise: number,
  clip: number,
  temperature: number,
): number {
  const mean = clip > 0 ? k.c1 * Math.min(clip, Math.max(-clip, k.a * x - k.b * eps)) + k.c2 * x : k.meanX * x - k.meanEps * eps;
  return i === 0 ? mean : mean + Math.exp(v * k.slope + k.offset) * noise * temperature;
}

/**
 * How the diffusion head draws a token: `ancestral` (IDDPM's stochastic steps, MAR's sampler),
 * `ddim` (deterministic DDIM, η = 0: the first-order solver of the probability-flow ODE) or
 * `dpm-solver++` (DPM-Solver++(2M), second-order multistep in x̂₀, first order at its first and
 * last steps). The deterministic two start from noise scaled by the temperature.
 */
export type DiffusionSampler = 'ancestral' | 'ddim' | 'dpm-solver++';
export const DIFFUSION_SAMPLERS: readonly DiffusionSampler[] = ['ancestral', 'ddim', 'dpm-solver++'];

/** Throws naming the bad value unless `s` is a DiffusionSampler. */
export function checkDiffusionSampler(s: string): DiffusionSampler {
  if (!(DIFFUSION_SAMPLERS as readonly string[]).includes(s))
    throw new Error(`unknown diffusion sampler '${s}' (expected ${DIFFUSION_SAMPLERS.join(' | ')})`);
  return s as DiffusionSampler;
}

/**
 * DiSA's diffusion-step annealing (arXiv 2505.20297): the diffusion steps of each of `numIter` AR
 * steps, linear in the AR step from `first` down (or up) to `last`, rounded. Later tokens are
 * nearly fixed by the earlier ones, so they need fewer steps. `last` absent: `first` throughout.
 */
export function annealedDiffusionSteps(first: number, last: number | undefined, numIter: number): number[] {
  for (const [name, v] of [
    ['diffusion steps', first],
    ['final diffusion steps', last ?? first],
    ['AR steps', numIter],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer, got ${v}`);
  }
  if (last === undefined || numIter === 1) return Array.from({ length: numIter }, () => first);
  return Array.from({ length: numIter }, (_, k) => Math.round(first + ((last - first) * k) / (numIter - 1)));
}

/**
 * One deterministic solver step from respaced step i down to i − 1 (ᾱ = 1 below step 0), in the
 * data-prediction form of DPM-Solver++ with α = √ᾱ, σ = √(1 − ᾱ), λ = log(α/σ):
 *   x̂₀ = a·x − b·ε̂ (optionally clipped);  x_{i−1} = xCoef·x + dataCoef·D,
 * where D = x̂₀ at first order (this is exactly DDIM with η = 0) and, at second order,
 * D = (1 + 1/(2r))·x̂₀ − 1/(2r)·x̂₀ of the previous step, r = h_prev / h (h = λ_{i−1} − λ_i).
 * `r` is null where the second order does not apply: at the first step (no previous x̂₀) and the
 * last (λ_{−1} = ∞).
 */
export interface SolverCoefficients {
  a: number;
  b: number;
  xCoef: number;
  dataCoef: number;
  r: number | null;
}

export function solverCoefficients(alphasCumprod: Float64Array, i: number): SolverCoefficients {
  const T = alphasCumprod.length;
  if (!Number.isInteger(i) || i < 0 || i >= T) throw new Error(`solver step ${i} outside 0..${T - 1}`);
  const ac = alphasCumprod[i];
  const acPrev = i === 0 ? 1 : alphasCumprod[i - 1];
  const [alpha, sigma] = [Math.sqrt(ac), Math.sqrt(1 - ac)];
  const [alphaPrev, sigmaPrev] = [Math.sqrt(acPrev), Math.sqrt(1 - acPrev)];
  const lambda = (x: number) => 0.5 * Math.log(x / (1 - x));
  let r: number | null = null;
  if (i > 0 && i < T - 1) r = (lambda(ac) - lambda(alphasCumprod[i + 1])) / (lambda(acPrev) - lambda(ac));
  const xCoef = sigmaPrev / sigma;
  return { a: 1 / alpha, b: sigma / alpha, xCoef, dataCoef: alphaPrev - alpha * xCoef, r };
}

/**
 * x_{i−1} for one element from x_i, ε̂ and (second order only) the previous step's x̂₀; returns the
 * new x and this step's x̂₀ (GaussianDiffusion.solverLoop, element by element).
 */
export function solverStep(
  k: SolverCoefficients,
  x: number,
  eps: number,
  prevX0: number | null,
  clip: number,
): { x: number; x0: number } {
  const raw = k.a * x - k.b * eps;
  const x0 = clip > 0 ? Math.min(clip, Math.max(-clip, raw)) : raw;
  const d = k.r !== null && prevX0 !== null ? (1 + 1 / (2 * k.r)) * x0 - prevX0 / (2 * k.r) : x0;
  return { x: k.xCoef * x + k.dataCoef * d, x0 };
}

/** How the diffusion head applies classifier-free guidance: two rows per token (`cfg`), or the distilled head's one row (`distilled`). */
export const HEAD_GUIDANCES = ['cfg', 'distilled'] as const;
export type HeadGuidance = (typeof HEAD_GUIDANCES)[number];
