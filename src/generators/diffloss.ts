// MAR's diffusion head: a small MLP with AdaLN (`SimpleMLPAdaLN`) that denoises one token's
// latent conditioned on the transformer's output z for that token, trained with the per-token
// diffusion loss and sampled by ancestral steps of the respaced schedule.
// Reference: LTH14/mar models/diffloss.py (DiT's timestep embedder, AdaLN-zero blocks).
// Optionally a second, guidance-distilled head (`guided_net`, d2c's own): it takes the guidance
// scale as an input and predicts the guided ε from the conditional z alone (Meng et al. 2023,
// "On distillation of guided diffusion models"), so sampling needs no unconditional rows.

import { normal_, xavierUniform_, zeros_ } from '../nn/init.ts';
import { addResidual, type InitOpts, LayerNorm, Linear } from '../nn/layers.ts';
import { Module, ModuleList } from '../nn/module.ts';
import type { Generator, Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';
import { createDiffusion, type GaussianDiffusion, type StepDenoiser } from './diffusion.ts';
import type { DiffusionSampler, HeadGuidance } from './schedules.ts';

const modulate = (x: Tensor, shift: Tensor, scale: Tensor) => x.mul(scale.add(1)).add(shift);

/**
 * An AdaLN bias [k·W] with 1 added to its scale chunk (the second W): the modulation Linear then
 * yields 1 + scale directly and modulate() becomes one addcmul. For sampling, where it is reused.
 */
function biasWithUnitScale(modulation: Linear, width: number): Tensor {
  const w = modulation.weight;
  const b = modulation.bias ? modulation.bias.detach().clone() : torch.zeros([w.shape[0]], { dtype: w.dtype, device: w.device });
  b.narrow(0, width, width).add_(1);
  return b;
}

/** `nn.Sequential(Linear, SiLU, Linear)` with the Linears at indices 0 and 2, as the reference names them. */
class SiluMlp extends Module {
  readonly l0: Linear;
  readonly l2: Linear;
  constructor(inDim: number, dim: number, o: InitOpts) {
    super();
    this.l0 = this.registerModule('0', new Linear(inDim, dim, true, o));
    this.l2 = this.registerModule('2', new Linear(dim, dim, true, o));
  }
  forward(x: Tensor): Tensor {
    return this.l2.forward(torch.F.silu(this.l0.forward(x)));
  }
}

/** `nn.Sequential(SiLU, Linear)`: the AdaLN modulation, its Linear at index 1. */
class AdaLNModulation extends Module {
  readonly l1: Linear;
  constructor(dim: number, outDim: number, o: InitOpts) {
    super();
    this.l1 = this.registerModule('1', new Linear(dim, outDim, true, o));
  }
  forward(y: Tensor): Tensor {
    return this.l1.forward(torch.F.silu(y));
  }
}

/** GLIDE's sinusoid frequencies exp(−ln(maxPeriod)·i/half), i < half = ⌊dim/2⌋. [half] */
export function timestepFrequencies(dim: number, maxPeriod = 10000, o: InitOpts = {}): Tensor {
  const half = Math.floor(dim / 2);
  return torch.tidy(() =>
    torch
      .arange(0, half, 1, { dtype: 'float32', device: o.device })
      .mul(-Math.log(maxPeriod) / half)
      .exp(),
  );
}

/** Sinusoidal features of (possibly fractional) timesteps [N] -> [N, dim]: cos half, then sin half. */
export function timestepEmbedding(t: Tensor, dim: number, freqs: Tensor): Tensor {
  const args = t.float().unsqueeze(1).mul(freqs.unsqueeze(0)); // [N, half]
  const emb = torch.cat([args.cos(), args.sin()], -1);
  return dim % 2 ? torch.cat([emb, torch.zeros([t.shape[0], 1], { device: t.device })], -1) : emb;
}

export class TimestepEmbedder extends Module {
  readonly mlp: SiluMlp;
  readonly freqs: Tensor; // [freqDim / 2], a non-persistent buffer: computed once, not per call

  constructor(
    readonly dim: number,
    o: InitOpts = {},
    readonly freqDim = 256,
  ) {
    super();
    this.mlp = this.registerModule('mlp', new SiluMlp(freqDim, dim, o));
    this.freqs = this.registerBuffer('freqs', timestepFrequencies(freqDim, 10000, o), false);
  }
  forward(t: Tensor): Tensor {
    return this.mlp.forward(timestepEmbedding(t, this.freqDim, this.freqs));
  }
}

/** x + gate · MLP(modulate(LN(x), shift, scale)), with (shift, scale, gate) from the condition y. */
export class ResBlock extends Module {
  readonly in_ln: LayerNorm;
  readonly mlp: SiluMlp;
  readonly adaLN_modulation: AdaLNModulation;
  constructor(
    readonly channels: number,
    o: InitOpts = {},
  ) {
    super();
    this.in_ln = this.registerModule('in_ln', new LayerNorm(channels, 1e-6, true, o));
    this.mlp = this.registerModule('mlp', new SiluMlp(channels, channels, o));
    this.adaLN_modulation = this.registerModule('adaLN_modulation', new AdaLNModulation(channels, 3 * channels, o));
  }
  forward(x: Tensor, y: Tensor): Tensor {
    const [shift, scale, gate] = this.adaLN_modulation.forward(y).chunk(3, -1);
    const h = this.mlp.forward(modulate(this.in_ln.forward(x), shift, scale));
    return addResidual(x, gate.mul(h));
  }

  /** This block's weights for sampling (prepareWeight: a cast, or none), its AdaLN bias with 1 folded into the scale. */
  prepared(prepareWeight: (t: Tensor) => Tensor): PreparedResBlock {
    const p = prepareWeight;
    const { l0, l2 } = this.mlp;
    return {
      modW: p(this.adaLN_modulation.l1.weight),
      modB: p(biasWithUnitScale(this.adaLN_modulation.l1, this.channels)),
      lnW: this.in_ln.weight && p(this.in_ln.weight),
      lnB: this.in_ln.bias && p(this.in_ln.bias),
      l0W: p(l0.weight),
      l0B: l0.bias && p(l0.bias),
      l2W: p(l2.weight),
      l2B: l2.bias && p(l2.bias),
    };
  }
}

/** A ResBlock's weights as its sampling step uses them (ResBlock.prepared). */
export interface PreparedResBlock {
  modW: Tensor;
  modB: Tensor;
  lnW: Tensor | null;
  lnB: Tensor | null;
  l0W: Tensor;
  l0B: Tensor | null;
  l2W: Tensor;
  l2B: Tensor | null;
}

/** ResBlock.forward() given SiLU(y) and the prepared weights: modulate() folded into one addcmul. */
function resBlockStep(x: Tensor, siluY: Tensor, w: PreparedResBlock): Tensor {
  const F = torch.F;
  const [shift, scale1, gate] = F.linear(siluY, w.modW, w.modB).chunk(3, -1);
  const ln = F.layerNorm(x, [x.shape[1]], w.lnW, w.lnB, 1e-6);
  const h = F.linear(F.silu(F.linear(F.addcmul(shift, ln, scale1), w.l0W, w.l0B)), w.l2W, w.l2B);
  return F.addcmul(x, gate, h);
}

/** DiT's final layer: modulated affine-free LayerNorm, then the output projection. */
export class FinalLayer extends Module {
  readonly linear: Linear;
  readonly adaLN_modulation: AdaLNModulation;
  constructor(
    readonly channels: number,
    outChannels: number,
    o: InitOpts = {},
  ) {
    super();
    this.linear = this.registerModule('linear', new Linear(channels, outChannels, true, o));
    this.adaLN_modulation = this.registerModule('adaLN_modulation', new AdaLNModulation(channels, 2 * channels, o));
  }
  forward(x: Tensor, c: Tensor): Tensor {
    const [shift, scale] = this.adaLN_modulation.forward(c).chunk(2, -1);
    const h = torch.F.layerNorm(x, [this.channels], null, null, 1e-6);
    return this.linear.forward(modulate(h, shift, scale));
  }

  /** This layer's weights for sampling (as ResBlock.prepared). */
  prepared(prepareWeight: (t: Tensor) => Tensor): PreparedFinalLayer {
    const p = prepareWeight;
    return {
      modW: p(this.adaLN_modulation.l1.weight),
      modB: p(biasWithUnitScale(this.adaLN_modulation.l1, this.channels)),
      outW: p(this.linear.weight),
      outB: this.linear.bias && p(this.linear.bias),
    };
  }
}

/** A FinalLayer's weights as its sampling step uses them. */
export interface PreparedFinalLayer {
  modW: Tensor;
  modB: Tensor;
  outW: Tensor;
  outB: Tensor | null;
}

/** FinalLayer.forward() given SiLU(c) and the prepared weights. */
function finalLayerStep(x: Tensor, siluC: Tensor, w: PreparedFinalLayer): Tensor {
  const F = torch.F;
  const [shift, scale1] = F.linear(siluC, w.modW, w.modB).chunk(2, -1);
  const h = F.layerNorm(x, [x.shape[1]], null, null, 1e-6);
  return F.linear(F.addcmul(shift, h, scale1), w.outW, w.outB);
}

export interface SimpleMLPAdaLNConfig {
  inChannels: number;
  modelChannels: number;
  outChannels: number;
  zChannels: number;
  numResBlocks: number;
  /** A guidance-scale input (the distilled head): its embedding is added to the condition, zero at init. */
  guidanceEmbed?: boolean;
}

/**
 * The guidance scale w as the guidance embedder's "timestep": w ∈ [1, 5] spans the 0..1000 range
 * its sinusoids were made for.
 */
export function guidanceTimestep(w: Tensor): Tensor {
  return w.sub(1).mul(250);
}

/** The denoiser: x [N, C], t [N], c [N, Z] -> [N, 2C] (ε and the σ interpolation fraction). */
export class SimpleMLPAdaLN extends Module {
  readonly time_embed: TimestepEmbedder;
  readonly cond_embed: Linear;
  readonly input_proj: Linear;
  readonly res_blocks: ModuleList<ResBlock>;
  readonly final_layer: FinalLayer;
  readonly guidance_embed: TimestepEmbedder | null = null;

  constructor(
    readonly cfg: SimpleMLPAdaLNConfig,
    o: InitOpts = {},
  ) {
    super();
    const W = cfg.modelChannels;
    this.time_embed = this.registerModule('time_embed', new TimestepEmbedder(W, o));
    this.cond_embed = this.registerModule('cond_embed', new Linear(cfg.zChannels, W, true, o));
    this.input_proj = this.registerModule('input_proj', new Linear(cfg.inChannels, W, true, o));
    this.res_blocks = this.registerModule(
      'res_blocks',
      new ModuleList(Array.from({ length: cfg.numResBlocks }, () => new ResBlock(W, o))),
    );
    this.final_layer = this.registerModule('final_layer', new FinalLayer(W, cfg.outChannels, o));
    if (cfg.guidanceEmbed) this.guidance_embed = this.registerModule('guidance_embed', new TimestepEmbedder(W, o));
    this.initWeights(o.generator);
  }

  /** Xavier Linears, N(0, 0.02) time MLP, and AdaLN-zero: every block starts as the identity. */
  private initWeights(g?: Generator): void {
    for (const [, m] of this.namedModules()) {
      if (m instanceof Linear) {
        xavierUniform_(m.weight, 1, g);
        if (m.bias) zeros_(m.bias);
      }
    }
    normal_(this.time_embed.mlp.l0.weight, 0, 0.02, g);
    normal_(this.time_embed.mlp.l2.weight, 0, 0.02, g);
    if (this.guidance_embed) normal_(this.guidance_embed.mlp.l0.weight, 0, 0.02, g);
    const zero = [...this.res_blocks].map((b) => b.adaLN_modulation.l1);
    zero.push(this.final_layer.adaLN_modulation.l1, this.final_layer.linear);
    // the guidance embedding starts at zero: a distilled head starts as the head it copies
    if (this.guidance_embed) zero.push(this.guidance_embed.mlp.l2);
    for (const l of zero) {
      zeros_(l.weight);
      if (l.bias) zeros_(l.bias);
    }
  }

  /** x [N, C], t [N], c [N, Z] (and the guidance scale w [N] of a distilled head) -> [N, 2C]. */
  forward(x: Tensor, t: Tensor, c: Tensor, w?: Tensor): Tensor {
    let h = this.input_proj.forward(x);
    const y = this.time_embed.forward(t).add(this.condition(c, w));
    for (const block of this.res_blocks) h = block.forward(h, y);
    return this.final_layer.forward(h, y);
  }

  /** The condition's part of the AdaLN input: cond_embed(c), plus the guidance embedding of w for a distilled head. */
  private condition(c: Tensor, w?: Tensor): Tensor {
    const cond = this.cond_embed.forward(c);
    if (!this.guidance_embed) {
      if (w) throw new Error('SimpleMLPAdaLN: a guidance scale was given to a head without a guidance input');
      return cond;
    }
    if (!w) throw new Error('SimpleMLPAdaLN: the distilled head needs the guidance scale w [N]');
    return cond.add(this.guidance_embed.forward(guidanceTimestep(w)));
  }

  /**
   * Classifier-free guidance: rows [0, N/2) are conditional, [N/2, N) unconditional, and both
   * halves carry the same x (the first half's). ε = ε_u + s(ε_c − ε_u) is returned for both
   * halves; the σ channels are each row's own.
   */
  forwardWithCfg(x: Tensor, t: Tensor, c: Tensor, cfgScale: number): Tensor {
    const n = x.shape[0];
    if (n % 2 !== 0) throw new Error(`forwardWithCfg: batch ${n} must be even (conditional half, then unconditional)`);
    const half = x.narrow(0, 0, n / 2);
    const out = this.forward(torch.cat([half, half], 0), t, c);
    const C = this.cfg.inChannels;
    const eps = out.narrow(1, 0, C);
    const rest = out.narrow(1, C, out.shape[1] - C);
    const [cond, uncond] = eps.split(n / 2, 0);
    const guided = uncond.add(cond.sub(uncond).mul(cfgScale));
    return torch.cat([torch.cat([guided, guided], 0), rest], 1);
  }

  /**
   * The denoiser for sampling under condition c [N, Z] at the given original timesteps (one per
   * respaced step): forward(), or forwardWithCfg()'s conditional half when cfgScale ≠ 1, with
   * what does not change across steps computed once (the condition and every step's time
   * embedding), SiLU(y) computed once per step for all the AdaLN modulations instead of once per
   * block, and modulate() folded into one addcmul. The returned tensors live in the caller's scope.
   * Under a bf16 autocast the whole step runs in bfloat16 (weights cast once here, activations
   * kept there), not op by op: autocast's casts around each Linear cost a third of the time, and
   * only x's update, in float32, needs the precision. ε̂ and v come back in float32.
   * A distilled head (guidanceEmbed) takes cfgScale as its input instead: one row per token.
   */
  sampler(c: Tensor, timesteps: number[], cfgScale = 1): StepDenoiser {
    const n = c.shape[0];
    const distilled = this.guidance_embed !== null;
    const guided = cfgScale !== 1 && !distilled;
    if (guided && n % 2 !== 0) throw new Error(`sampler: batch ${n} must be even (conditional half, then unconditional)`);
    const C = this.cfg.inChannels;
    const low = torch.autocastDtype();
    const p = low === null ? (t: Tensor) => t : (t: Tensor) => t.detach().to(low);
    const w = distilled ? torch.full([n], cfgScale, { device: c.device }) : undefined;
    const cond = p(this.condition(c, w)); // [N, W]
    const t = torch.tensor(BigInt64Array.from(timesteps.map(BigInt)), { device: c.device });
    const temb = p(this.time_embed.forward(t)); // [steps, W]
    const blocks = [...this.res_blocks].map((b) => b.prepared(p));
    const final = this.final_layer.prepared(p);
    const inW = p(this.input_proj.weight);
    const inB = this.input_proj.bias && p(this.input_proj.bias);
    return (x, i) => {
      const siluY = torch.F.silu(temb.narrow(0, i, 1).add(cond)); // [N, W]
      let h = torch.F.linear(p(guided ? torch.cat([x, x], 0) : x), inW, inB);
      for (const w of blocks) h = resBlockStep(h, siluY, w);
      let out = finalLayerStep(h, siluY, final); // [N, 2C]
      if (low !== null) out = out.float();
      const eps = out.narrow(1, 0, C);
      const v = out.narrow(1, C, C);
      if (!guided) return { eps, v };
      // ε_u + s·(ε_c − ε_u); the conditional rows' σ fraction
      return { eps: torch.F.lerp(eps.narrow(0, n / 2, n / 2), eps.narrow(0, 0, n / 2), cfgScale), v: v.narrow(0, 0, n / 2) };
    };
  }
}

export interface DiffLossConfig {
  targetChannels: number;
  zChannels: number;
  depth: number;
  width: number;
  /** Respacing of the 1000-step schedule used for sampling ("100" in MAR). */
  numSamplingSteps: string;
  /** Also a guidance-distilled head (`guided_net`), trained from `net` by `distillLoss`. */
  guidedHead?: boolean;
}

export class DiffLoss extends Module {
  readonly net: SimpleMLPAdaLN;
  readonly guided_net: SimpleMLPAdaLN | null = null;
  readonly trainDiffusion: GaussianDiffusion;
  readonly genDiffusion: GaussianDiffusion;
  /** Respaced samplers by their number of steps, built on first use (`sample`'s `steps`). */
  private readonly respaced = new Map<number, GaussianDiffusion>();

  constructor(
    readonly cfg: DiffLossConfig,
    o: InitOpts = {},
  ) {
    super();
    const net: SimpleMLPAdaLNConfig = {
      inChannels: cfg.targetChannels,
      modelChannels: cfg.width,
      outChannels: 2 * cfg.targetChannels, // ε and σ, for the VLB term
      zChannels: cfg.zChannels,
      numResBlocks: cfg.depth,
    };
    this.net = this.registerModule('net', new SimpleMLPAdaLN(net, o));
    if (cfg.guidedHead)
      this.guided_net = this.registerModule('guided_net', new SimpleMLPAdaLN({ ...net, guidanceEmbed: true }, o));
    this.trainDiffusion = createDiffusion('');
    this.genDiffusion = createDiffusion(cfg.numSamplingSteps);
  }

  /**
   * Mean diffusion loss over tokens of target [N, C] given z [N, Z], one random timestep and
   * noise draw per token; with `mask` [N] only masked tokens count. The rows are `repeats` copies
   * of the batch's tokens (MAR's diffusion batch multiplier): draws are batch-sharded within a copy.
   */
  forward(target: Tensor, z: Tensor, mask: Tensor | null, generator?: Generator, repeats = 1): Tensor {
    const [n, C] = target.shape;
    const k = repeats;
    const draw = { generator, device: target.device, batchDim: 1 };
    const t = torch.randint(0, this.trainDiffusion.numTimesteps, [k, n / k], draw).reshape(n);
    const noise = torch.randn([k, n / k, C], { ...draw, dtype: target.dtype }).reshape(n, C);
    const { loss } = this.trainDiffusion.trainingLosses((x, tt) => this.net.forward(x, tt, z), target, t, noise);
    if (mask === null) return loss.mean();
    return loss.mul(mask).sum().div(mask.sum());
  }

  /**
   * Guidance distillation: the mean squared error of guided_net(x_t, t, z_c, w) against the guided
   * output of `net`, ε_u + w(ε_c − ε_u) with the conditional row's σ fraction, for targets [N, C]
   * (the clean tokens x_t is drawn from), conditions z_c and z_u [N, Z], one t, noise and
   * w ~ U[1, maxCfg] per row. Only guided_net gets gradients.
   */
  distillLoss(target: Tensor, zc: Tensor, zu: Tensor, maxCfg: number, generator?: Generator): Tensor {
    const student = this.guided_net;
    if (!student) throw new Error('DiffLoss.distillLoss: this head has no guided_net (config guidedHead)');
    const [n, C] = target.shape;
    const draw = { generator, device: target.device, batchDim: 0 };
    const t = torch.randint(0, this.trainDiffusion.numTimesteps, [n], draw);
    const xT = this.trainDiffusion.qSample(target, t, torch.randn([n, C], { ...draw, dtype: target.dtype }));
    const w = torch
      .rand([n], draw)
      .mul(maxCfg - 1)
      .add(1);
    const teacher = torch.noGrad(() => {
      const out = this.net.forward(torch.cat([xT, xT], 0), torch.cat([t, t], 0), torch.cat([zc, zu], 0));
      const [cond, uncond] = out.split(n, 0);
      const eu = uncond.narrow(1, 0, C);
      const eps = eu.add(cond.narrow(1, 0, C).sub(eu).mul(w.unsqueeze(1)));
      return torch.cat([eps, cond.narrow(1, C, C)], 1);
    });
    return student.forward(xT, t, zc, w).sub(teacher).square().mean();
  }

  /**
   * Draws one latent per row of z [N, Z]; with cfg ≠ 1, z holds conditional rows then
   * unconditional rows, and one latent per conditional row [N/2, C] is returned. (The reference
   * also carries the unconditional half through the steps, but every step reads only the first
   * half's x, and it returns that half: the same draws, a batch half the size.)
   * `sampler` (default `ancestral`) picks the steps: see DiffusionSampler in schedules.ts.
   */
  sample(
    z: Tensor,
    opts: {
      temperature?: number;
      cfg?: number;
      generator?: Generator;
      clip?: number;
      steps?: number;
      sampler?: DiffusionSampler;
      /** bf16: every step in bfloat16 (SimpleMLPAdaLN.sampler), x's update in float32; default fp32. */
      precision?: torch.Precision;
      /** `distilled`: z holds conditional rows only, and guided_net applies the guidance (default `cfg`). */
      guidance?: HeadGuidance;
    } = {},
  ): Tensor {
    const cfg = opts.cfg ?? 1;
    const diffusion = opts.steps === undefined ? this.genDiffusion : this.samplingDiffusion(opts.steps);
    const net = opts.guidance === 'distilled' ? this.distilledNet() : this.net;
    const guided = cfg !== 1 && net === this.net;
    const rows = guided ? z.shape[0] / 2 : z.shape[0];
    const sampler = opts.sampler ?? 'ancestral';
    const draw = () => {
      const noise = torch.randn([rows, this.cfg.targetChannels], { generator: opts.generator, dtype: z.dtype, device: z.device });
      const denoiser = net.sampler(z, diffusion.timestepMap, cfg);
      if (sampler !== 'ancestral') {
        const order = sampler === 'ddim' ? 1 : sampler === 'dpm-solver++' ? 2 : null;
        if (order === null) throw new Error(`unknown diffusion sampler '${sampler}' (expected ancestral | ddim | dpm-solver++)`);
        return diffusion.solverLoop(denoiser, noise.mul(opts.temperature ?? 1), { order, clip: opts.clip });
      }
      return diffusion.sampleLoop(denoiser, noise, {
        temperature: opts.temperature,
        generator: opts.generator,
        clip: opts.clip,
        mirrored: guided,
      });
    };
    // bf16: the head's steps run in a bf16 region (an enclosing one, e.g. --precision bf16, also counts)
    return torch.tidy(() => (opts.precision === 'bf16' ? torch.autocast('bf16', draw) : draw()));
  }

  /** guided_net, or an error that says how to get one. */
  distilledNet(): SimpleMLPAdaLN {
    if (this.guided_net) return this.guided_net;
    throw new Error(
      "this stage 2 has no distilled head for guidance 'distilled': train one with `d2c train guided-head`, or sample with guidance 'cfg'",
    );
  }

  /**
   * The 1000-step schedule respaced to `steps` evenly strided steps (IDDPM's respacing, as the
   * config's numSamplingSteps "100" is): sampling cost is linear in it.
   */
  samplingDiffusion(steps: number): GaussianDiffusion {
    if (!Number.isInteger(steps) || steps < 1 || steps > this.trainDiffusion.numTimesteps)
      throw new Error(`diffusion steps must be an integer in 1..${this.trainDiffusion.numTimesteps}, got ${steps}`);
    let d = this.respaced.get(steps);
    if (!d) {
      d = createDiffusion(String(steps));
      this.respaced.set(steps, d);
    }
    return d;
  }
}
