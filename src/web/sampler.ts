// The two-stage D2C sampler over ONNX Runtime (onnxruntime-web in the page, onnxruntime-node in
// the tests): the graphs of `d2c export` run the networks; this file does what d2c's libtorch
// sampler does around them (gpt_sample.ts, mar_sample.ts, diffloss.ts/diffusion.ts) on plain
// arrays, with the schedules and step coefficients of ../generators/schedules.ts shared with it.
// Plain TypeScript with no Node or DOM APIs, so the page bundles it as is.
import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-common';
import type { WebManifest } from '../export/manifest.ts';
import {
  alphasCumprod,
  ancestralStep,
  annealedDiffusionSteps,
  cfgAt,
  type DiffusionSampler,
  diffusionCoefficients,
  type HeadGuidance,
  maskSchedule,
  respacedSchedule,
  solverCoefficients,
  solverStep,
  stepCoefficients,
} from '../generators/schedules.ts';
import { draw, filteredProbs, guide } from './logits.ts';
import { Rng } from './rng.ts';

/** The parts of an onnxruntime package the sampler uses (node and web have the same API). */
export interface Ort {
  Tensor: new (type: 'float32' | 'int64', data: Float32Array | BigInt64Array, dims: readonly number[]) => OrtTensor;
  InferenceSession: { create(model: Uint8Array, options?: InferenceSession.SessionOptions): Promise<InferenceSession> };
}

export interface WebGenerateOptions {
  /** One class index per image. */
  classes: number[];
  seed: number;
  stage1?: Partial<{ cfg: number; temperature: number; topK: number; topP: number }>;
  /**
   * `diffusionSteps`: the diffusion head's sampler respaced to that many steps (default: d2c.json's,
   * else the config's); `finalDiffusionSteps` anneals them linearly to that many at the last AR
   * step (DiSA); `diffusionSampler`: ancestral, ddim or dpm-solver++ (as the libtorch sampler).
   */
  stage2?: Partial<Stage2WebOptions>;
}

export interface Stage2WebOptions {
  cfg: number;
  cfgSchedule: 'linear' | 'constant';
  temperature: number;
  steps: number;
  clip: number;
  diffusionSteps: number;
  finalDiffusionSteps: number;
  diffusionSampler: DiffusionSampler;
  /** `distilled`: the export's distilled head (graph diffusion_denoise_guided), one row per token. */
  headGuidance: HeadGuidance;
}

export interface WebProgress {
  stage: 'stage1' | 'stage2' | 'decode';
  step: number;
  total: number;
}

export interface WebResult {
  /** float32 [B, C, H, W] in [−1, 1] */
  images: Float32Array;
  /** the VQ-decoded stage-1 codes, same shape; null for a MAR-only model */
  previews: Float32Array | null;
  shape: [number, number, number, number];
  /** stage-1 codes [B, L]; null for a MAR-only model */
  codes: Int32Array | null;
}

export const GRAPHS = [
  'gpt_prefill',
  'gpt_decode',
  'mar_condition',
  'mar_forward',
  'diffusion_denoise',
  'vq_decode',
  'kl_decode',
];

const STAGE1_GRAPHS = ['gpt_prefill', 'gpt_decode', 'vq_decode'];
/** Exported only for a stage 2 with a distilled head. */
const GUIDED_HEAD_GRAPH = 'diffusion_denoise_guided';
const STAGE1_DEFAULTS = { cfg: 1, temperature: 1, topK: 0, topP: 1 };

export class WebSampler {
  private constructor(
    readonly ort: Ort,
    readonly manifest: WebManifest,
    private readonly s: Record<string, InferenceSession>,
  ) {}

  /** Creates a session per graph from `load(file)` (the bytes of a file of the export). */
  static async create(
    ort: Ort,
    manifest: WebManifest,
    load: (file: string) => Promise<Uint8Array>,
    options?: InferenceSession.SessionOptions,
  ): Promise<WebSampler> {
    if (manifest.format !== 'd2c-onnx/1') throw new Error(`manifest.json: unknown format ${JSON.stringify(manifest.format)}`);
    const sessions: Record<string, InferenceSession> = {};
    // a MAR-only model (manifest.stage1 null) has no stage-1 or VQ graphs
    const graphs = manifest.stage1 ? [...GRAPHS] : GRAPHS.filter((g) => !STAGE1_GRAPHS.includes(g));
    if (manifest.graphs[GUIDED_HEAD_GRAPH]) graphs.push(GUIDED_HEAD_GRAPH);
    for (const g of graphs) {
      const entry = manifest.graphs[g];
      if (!entry) throw new Error(`manifest.json lists no graph ${g}`);
      const bytes = await load(entry.file);
      try {
        sessions[g] = await ort.InferenceSession.create(bytes, options);
      } catch (e) {
        throw new Error(`${entry.file} is not a loadable ONNX model: ${(e as Error).message}`);
      }
    }
    return new WebSampler(ort, manifest, sessions);
  }

  private f32(data: Float32Array, dims: number[]): OrtTensor {
    return new this.ort.Tensor('float32', data, dims);
  }
  private i64(data: ArrayLike<number>, dims: number[]): OrtTensor {
    return new this.ort.Tensor('int64', BigInt64Array.from(Array.from(data, (v) => BigInt(v))), dims);
  }
  private async run(graph: string, feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>> {
    return (await this.s[graph].run(feeds)) as Record<string, OrtTensor>;
  }

  /**
   * Samples one image per class. `onProgress` is awaited: a page returns a promise that yields to
   * the event loop, so it can paint the progress while ONNX Runtime holds the main thread.
   */
  async generate(o: WebGenerateOptions, onProgress?: (p: WebProgress) => void | Promise<void>): Promise<WebResult> {
    const info = this.manifest.model;
    // a MAR-only model's d2c.json has no stage1 (its options are then unused)
    const s1 = { ...STAGE1_DEFAULTS, ...(info.stage1 as Partial<typeof STAGE1_DEFAULTS> | undefined), ...o.stage1 };
    const s2 = { ...info.stage2, ...o.stage2 };
    const B = o.classes.length;
    if (B === 0) throw new Error('generate: classes is empty');
    for (const c of o.classes) {
      if (!Number.isInteger(c) || c < 0 || c >= info.classes.length)
        throw new Error(`unknown class ${c} (expected 0..${info.classes.length - 1})`);
    }
    const rng = new Rng(o.seed);
    const one = this.manifest.stage1;
    const codes = one
      ? await this.stage1(o.classes, s1, rng, (step, total) => onProgress?.({ stage: 'stage1', step, total }))
      : null;
    // as DiffLoss.samplingDiffusion: a number of steps is the respacing "<steps>"; annealing as mar_sample.ts
    const m2s = this.manifest.stage2;
    const respacing = s2.diffusionSteps === undefined ? m2s.numSamplingSteps : String(s2.diffusionSteps);
    const first = respacedSchedule(respacing, m2s.numTimesteps).timestepMap.length;
    const respacings =
      s2.finalDiffusionSteps === undefined
        ? Array.from({ length: s2.steps }, () => respacing)
        : annealedDiffusionSteps(first, s2.finalDiffusionSteps, s2.steps).map(String);
    const latents = await this.stage2(o.classes, codes, s2, respacings, rng, (step, total) =>
      onProgress?.({ stage: 'stage2', step, total }),
    );
    const m2 = this.manifest.stage2;
    const img = (
      await this.run('kl_decode', {
        latents: this.f32(latents, [B, m2.vaeEmbedDim, m2.seqH * m2.patchSize, m2.seqH * m2.patchSize]),
      })
    ).images;
    const clamp = (t: OrtTensor) => Float32Array.from(t.data as Float32Array, (v) => Math.min(1, Math.max(-1, v)));
    let previews: Float32Array | null = null;
    if (one && codes) {
      const side = Math.round(Math.sqrt(one.blockSize));
      previews = clamp((await this.run('vq_decode', { codes: this.i64(codes, [B, side, side]) })).images);
    }
    await onProgress?.({ stage: 'decode', step: 1, total: 1 });
    return { images: clamp(img), previews, shape: img.dims as [number, number, number, number], codes };
  }

  /** Stage 1: the code grid of each class, with the KV-cache graphs (gpt_sample.ts `generate`). */
  async stage1(
    classes: number[],
    o: { cfg: number; temperature: number; topK: number; topP: number },
    rng: Rng,
    progress?: (step: number, total: number) => void | Promise<void>,
  ): Promise<Int32Array> {
    const m = this.manifest.stage1;
    if (!m) throw new Error(`${this.manifest.model.name} is a MAR-only model: it has no stage 1`);
    const B = classes.length;
    const guided = o.cfg > 1;
    if (guided && !m.guidable) throw new Error('stage-1 guidance > 1 needs a null class, which this model has not');
    const R = guided ? 2 * B : B;
    const labels = guided ? [...classes, ...classes.map(() => m.nullClass)] : classes;
    const cacheSize = R * m.nHead * m.cacheLength * m.headDim;
    let caches: Record<string, OrtTensor> = {};
    for (let i = 0; i < m.nLayer; i++) {
      for (const kv of ['k', 'v'])
        caches[`past_${kv}${i}`] = this.f32(new Float32Array(cacheSize), [R, m.nHead, m.cacheLength, m.headDim]);
    }
    const codes = new Int32Array(B * m.blockSize);
    const pick = (logits: Float32Array, pos: number) => {
      const V = m.vocabSize;
      const next: number[] = [];
      for (let b = 0; b < B; b++) {
        const cond = logits.subarray(b * V, (b + 1) * V);
        const row = guided ? guide(cond, logits.subarray((B + b) * V, (B + b + 1) * V), o.cfg) : cond;
        const c = draw(filteredProbs(row, o), rng);
        codes[b * m.blockSize + pos] = c;
        next.push(c);
      }
      return next;
    };
    const take = (out: Record<string, OrtTensor>) => {
      caches = {};
      for (const [k, t] of Object.entries(out)) if (k.startsWith('present_')) caches[k.replace('present_', 'past_')] = t;
      return out.logits.data as Float32Array;
    };
    let prev = pick(take(await this.run('gpt_prefill', { labels: this.i64(labels, [R]), ...caches })), 0);
    await progress?.(1, m.blockSize);
    for (let i = 0; i < m.blockSize - 1; i++) {
      const P = m.clsTokenNum + i;
      const code = guided ? [...prev, ...prev] : prev;
      const positions = Array.from({ length: P + 1 }, (_, j) => j);
      const out = await this.run('gpt_decode', {
        code: this.i64(code, [R, 1]),
        positions: this.i64(positions, [P + 1]),
        ...caches,
      });
      prev = pick(take(out), i + 1);
      await progress?.(i + 2, m.blockSize);
    }
    return codes;
  }

  /** Stage 2: MAR's masked generation with the diffusion head (mar_sample.ts `sampleTokens`). */
  async stage2(
    classes: number[],
    codes: Int32Array | null,
    o: {
      cfg: number;
      cfgSchedule: 'linear' | 'constant';
      temperature: number;
      steps: number;
      clip?: number;
      diffusionSampler?: DiffusionSampler;
      headGuidance?: HeadGuidance;
    },
    respacings: string[],
    rng: Rng,
    progress: (step: number, total: number) => void | Promise<void>,
  ): Promise<Float32Array> {
    const m = this.manifest.stage2;
    const B = classes.length;
    const [L, C] = [m.seqLen, m.tokenEmbedDim];
    const distilled = o.headGuidance === 'distilled';
    if (distilled && !this.s[GUIDED_HEAD_GRAPH])
      throw new Error(`headGuidance 'distilled': this export has no distilled head (graph ${GUIDED_HEAD_GRAPH})`);
    // unconditional rows only where the head guides with them (mar_sample.ts `doubled`)
    const guided = o.cfg !== 1 && !distilled;
    const R = guided ? 2 * B : B;
    // conditions, once: the unconditional rows take fake_latent and null_cond (cfgDrop 'both')
    const condFeeds: Record<string, OrtTensor> = { labels: this.i64(classes, [B]) };
    if (m.fusion !== 'none') {
      if (!codes) throw new Error(`stage 2 (fusion ${m.fusion}) needs stage-1 codes`);
      condFeeds.codes = this.i64(codes, [B, L]);
    }
    const cond = await this.run('mar_condition', condFeeds);
    const De = m.encoderEmbedDim;
    const classEmb = new Float32Array(R * De);
    classEmb.set(cond.class_emb.data as Float32Array);
    if (guided) for (let b = 0; b < B; b++) classEmb.set(m.fakeLatent, (B + b) * De);
    let features: OrtTensor | null = null;
    if (m.fusion !== 'none') {
      const Dc = m.discEmbedDim;
      const F = new Float32Array(R * L * Dc);
      F.set(cond.features.data as Float32Array);
      if (guided && m.nullCond) for (let r = B * L; r < R * L; r++) F.set(m.nullCond, r * Dc);
      features = this.f32(F, [R, L, Dc]);
    }
    const classEmbT = this.f32(classEmb, [R, De]);
    const tokens = new Float32Array(B * L * C);
    let mask = new Float32Array(B * L).fill(1);
    const orders = Array.from({ length: B }, () => rng.permutation(L));
    const plan = maskSchedule(L, o.steps);
    for (let step = 0; step < o.steps; step++) {
      const maskLen = step === o.steps - 1 ? 0 : plan[step];
      const double = (a: Float32Array) => {
        if (!guided) return a;
        const d = new Float32Array(2 * a.length);
        d.set(a);
        d.set(a, a.length);
        return d;
      };
      const feeds: Record<string, OrtTensor> = {
        tokens: this.f32(double(tokens), [R, L, C]),
        mask: this.f32(double(mask), [R, L]),
        class_emb: classEmbT,
      };
      if (features) feeds.features = features;
      const z = (await this.run('mar_forward', feeds)).z;
      const Dd = z.dims[2];
      const zd = z.data as Float32Array;
      const next = new Float32Array(B * L);
      for (let b = 0; b < B; b++) for (let j = 0; j < maskLen; j++) next[b * L + orders[b][j]] = 1;
      const picked: number[] = []; // flat positions b·L + l predicted now, row-major as a boolean index gives them
      for (let p = 0; p < B * L; p++) if (mask[p] !== next[p]) picked.push(p);
      if (picked.length > 0) {
        const n = picked.length;
        const zSel = new Float32Array((guided ? 2 : 1) * n * Dd);
        picked.forEach((p, r) => {
          zSel.set(zd.subarray(p * Dd, (p + 1) * Dd), r * Dd);
          if (guided) zSel.set(zd.subarray((B * L + p) * Dd, (B * L + p + 1) * Dd), (n + r) * Dd);
        });
        const scale = cfgAt(o.cfg, o.cfgSchedule, L, plan[step]); // 1 when unguided
        const diffusion = respacedSchedule(respacings[step], m.numTimesteps);
        const x = await this.diffuse(
          zSel,
          n,
          Dd,
          diffusion,
          {
            cfg: scale,
            temperature: o.temperature,
            clip: o.clip ?? 0,
            sampler: o.diffusionSampler ?? 'ancestral',
            distilled,
          },
          rng,
        );
        picked.forEach((p, r) => {
          tokens.set(x.subarray(r * C, (r + 1) * C), p * C);
        });
      }
      mask = next;
      await progress(step + 1, o.steps);
    }
    return unpatchify(tokens, B, m.seqH, m.vaeEmbedDim, m.patchSize);
  }

  /**
   * The diffusion head's sampling loop for n tokens (DiffLoss.sample: GaussianDiffusion.sampleLoop,
   * or solverLoop for the deterministic samplers).
   */
  private async diffuse(
    z: Float32Array,
    n: number,
    Dz: number,
    d: { betas: Float64Array; timestepMap: number[] },
    o: HeadRun & { temperature: number; clip: number; sampler: DiffusionSampler },
    rng: Rng,
  ): Promise<Float32Array> {
    const C = this.manifest.stage2.tokenEmbedDim;
    const coef = diffusionCoefficients(d.betas);
    const zT = this.f32(z, [z.length / Dz, Dz]); // n rows, or 2n with the unconditional ones
    let x = rng.normals(n * C);
    if (o.sampler !== 'ancestral') return this.solve(x, zT, n, d, o);
    for (let i = d.betas.length - 1; i >= 0; i--) {
      const { eps, v } = await this.denoise(x, zT, n, d.timestepMap[i], o);
      const k = stepCoefficients(coef, i);
      const next = new Float32Array(n * C);
      for (let j = 0; j < n * C; j++) {
        next[j] = ancestralStep(k, i, x[j], eps[j], v[j], i === 0 ? 0 : rng.normal(), o.clip, o.temperature);
      }
      x = next;
    }
    return x;
  }

  /**
   * One run of the head at timestep t for n tokens x [n·C]: the guided noise prediction ε and the
   * conditional rows' variance output v, each [n·C] (the unconditional rows are the second half);
   * the distilled head gives both from the conditional rows and the scale.
   */
  private async denoise(
    x: Float32Array,
    zT: OrtTensor,
    n: number,
    t: number,
    { cfg, distilled }: HeadRun,
  ): Promise<{ eps: Float32Array; v: Float32Array }> {
    const C = this.manifest.stage2.tokenEmbedDim;
    const guided = cfg !== 1 && !distilled;
    const rows = guided ? 2 * n : n;
    const xin = new Float32Array(rows * C);
    xin.set(x);
    if (guided) xin.set(x, n * C);
    const feeds = { x: this.f32(xin, [rows, C]), t: this.i64(new Array(rows).fill(t), [rows]), z: zT };
    const run = distilled
      ? this.run(GUIDED_HEAD_GRAPH, { ...feeds, w: this.f32(new Float32Array(n).fill(cfg), [n]) })
      : this.run('diffusion_denoise', feeds);
    const out = (await run).out.data as Float32Array;
    const eps = new Float32Array(n * C);
    const v = new Float32Array(n * C);
    for (let r = 0; r < n; r++) {
      for (let c = 0; c < C; c++) {
        const e = out[r * 2 * C + c];
        const u = guided ? out[(n + r) * 2 * C + c] : e;
        eps[r * C + c] = guided ? u + cfg * (e - u) : e;
        v[r * C + c] = out[r * 2 * C + C + c];
      }
    }
    return { eps, v };
  }

  /** The deterministic solvers (GaussianDiffusion.solverLoop) from `noise`, scaled by the temperature. */
  private async solve(
    noise: Float32Array,
    zT: OrtTensor,
    n: number,
    d: { betas: Float64Array; timestepMap: number[] },
    o: HeadRun & { temperature: number; clip: number; sampler: DiffusionSampler },
  ): Promise<Float32Array> {
    const C = this.manifest.stage2.tokenEmbedDim;
    const ac = alphasCumprod(d.betas);
    let x = noise.map((v) => v * o.temperature);
    let prevX0: Float32Array | null = null;
    for (let i = d.betas.length - 1; i >= 0; i--) {
      const { eps } = await this.denoise(x, zT, n, d.timestepMap[i], o);
      const k = solverCoefficients(ac, i);
      if (o.sampler === 'ddim') k.r = null;
      const next = new Float32Array(n * C);
      const x0 = new Float32Array(n * C);
      for (let j = 0; j < n * C; j++) {
        const s = solverStep(k, x[j], eps[j], prevX0 ? prevX0[j] : null, o.clip);
        next[j] = s.x;
        x0[j] = s.x0;
      }
      x = next;
      prevX0 = x0;
    }
    return x;
  }

  async release(): Promise<void> {
    for (const s of Object.values(this.s)) await s.release();
  }
}

/** How one run of the head guides: the scale, and whether the distilled head applies it. */
interface HeadRun {
  cfg: number;
  distilled: boolean;
}

/** Tokens [B, L, C·p²] → latents [B, C, h·p, h·p] (MAR.unpatchify). */
export function unpatchify(tokens: Float32Array, B: number, h: number, C: number, p: number): Float32Array {
  const out = new Float32Array(tokens.length);
  const W = h * p;
  for (let b = 0; b < B; b++)
    for (let i = 0; i < h; i++)
      for (let j = 0; j < h; j++)
        for (let c = 0; c < C; c++)
          for (let u = 0; u < p; u++)
            for (let v = 0; v < p; v++) {
              const src = ((b * h * h + i * h + j) * C + c) * p * p + u * p + v;
              out[((b * C + c) * W + i * p + u) * W + j * p + v] = tokens[src];
            }
  return out;
}
