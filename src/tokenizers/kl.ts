// MAR's KL autoencoder (LTH14/mar models/vae.py, itself LDM's AutoencoderKL): the encoder predicts a
// diagonal Gaussian posterior over a continuous latent grid, the decoder maps a latent back to an image.
// Parameter names follow the reference exactly (`encoder.down.0.block.0.norm1.weight`,
// `decoder.up.3.upsample.conv.weight`, `encoder.mid.attn_1.q.weight`, …) so MAR's `kl16.ckpt`
// (converted by scripts/convert_checkpoint.py) loads with strict names.

import { Conv2d, type GroupNorm, type InitOpts } from '../nn/layers.ts';
import { Module, ModuleList } from '../nn/module.ts';
import type { Generator, Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';
import { AttnBlock, Downsample, MidBlock, normalize, ResnetBlock, ResolutionLevel, Upsample } from './conv_blocks.ts';

export interface KLConfig {
  embedDim: number; // latent channels (16 for KL-16)
  chMult: number[];
  useVariational: boolean; // false: deterministic autoencoder, logvar fixed as in the reference
  ch: number;
  numResBlocks: number;
  inChannels: number;
  outChannels: number;
  /** Input resolution the attention placement is computed from (the reference's `resolution`). */
  resolution: number;
  /** Encoder levels whose resolution is listed get AttnBlocks after each ResnetBlock (MAR: [16] at 256). */
  attnResolutions: number[];
  /** The same for the decoder (MAR: none). */
  decoderAttnResolutions: number[];
  dropout: number;
  /** Latents are multiplied by this before the generator sees them (MAR: 0.2325 for KL-16, main_mar.py vae_norm). */
  scaleFactor: number;
}

export const KL_DEFAULTS: KLConfig = {
  embedDim: 16,
  chMult: [1, 1, 2, 2, 4],
  useVariational: true,
  ch: 128,
  numResBlocks: 2,
  inChannels: 3,
  outChannels: 3,
  resolution: 256,
  attnResolutions: [16],
  decoderAttnResolutions: [],
  dropout: 0,
  scaleFactor: 0.2325,
};

export function klDownsample(c: KLConfig): number {
  return 2 ** (c.chMult.length - 1);
}

/** A diagonal Gaussian over latents [B, D, h, w], from the encoder's moments (mean ‖ logvar on channels). */
export class DiagonalGaussian {
  readonly mean: Tensor;
  readonly logvar: Tensor; // clamped to [−30, 20] as in the reference
  readonly std: Tensor;
  readonly var: Tensor;

  constructor(moments: Tensor) {
    const [mean, logvar] = moments.chunk(2, 1);
    this.mean = mean;
    this.logvar = logvar.clamp(-30, 20);
    this.std = this.logvar.mul(0.5).exp();
    this.var = this.logvar.exp();
  }

  /** mean + std·ε, ε drawn from `generator` (the reference uses the global RNG; we pass it explicitly). */
  sample(generator?: Generator): Tensor {
    const eps = torch.randn(this.mean.shape, { generator, dtype: this.mean.dtype, device: this.mean.device, batchDim: 0 });
    return this.mean.add(this.std.mul(eps));
  }

  mode(): Tensor {
    return this.mean;
  }

  /** KL(q ‖ N(0, I)) summed over [D, h, w]: one value per image. [B] */
  kl(): Tensor {
    return this.mean.square().add(this.var).sub(1).sub(this.logvar).sum([1, 2, 3]).mul(0.5);
  }

  /** −log q(sample) summed over [D, h, w]. [B] */
  nll(sample: Tensor): Tensor {
    const log2pi = Math.log(2 * Math.PI);
    return this.logvar.add(log2pi).add(sample.sub(this.mean).square().div(this.var)).sum([1, 2, 3]).mul(0.5);
  }
}

export class KLEncoder extends Module {
  readonly convIn: Conv2d;
  readonly down = new ModuleList<ResolutionLevel>();
  readonly mid: MidBlock;
  readonly normOut: GroupNorm;
  readonly convOut: Conv2d;

  constructor(c: KLConfig, o: InitOpts = {}) {
    super();
    const { ch, chMult: mult } = c;
    this.convIn = this.registerModule('conv_in', new Conv2d(c.inChannels, ch, 3, { padding: 1, ...o }));
    this.registerModule('down', this.down);
    let blockIn = ch;
    let res = c.resolution;
    mult.forEach((m, level) => {
      const lv = new ResolutionLevel('block');
      for (let i = 0; i < c.numResBlocks; i++) {
        lv.blocks.push(new ResnetBlock(blockIn, ch * m, c.dropout, o));
        blockIn = ch * m;
        if (c.attnResolutions.includes(res)) lv.attn.push(new AttnBlock(blockIn, o));
      }
      if (level !== mult.length - 1) {
        lv.downsample = lv.registerModule('downsample', new Downsample(blockIn, o));
        res = Math.floor(res / 2);
      }
      this.down.push(lv);
    });
    this.mid = this.registerModule('mid', new MidBlock(blockIn, c.dropout, o, ['block_1', 'attn_1', 'block_2']));
    this.normOut = this.registerModule('norm_out', normalize(blockIn, o));
    // double_z: mean and logvar for every latent channel.
    this.convOut = this.registerModule('conv_out', new Conv2d(blockIn, 2 * c.embedDim, 3, { padding: 1, ...o }));
  }

  forward(x: Tensor): Tensor {
    let h = this.convIn.forward(x);
    for (const lv of this.down) h = lv.forward(h);
    h = this.mid.forward(h);
    return this.convOut.forward(torch.F.silu(this.normOut.forward(h)));
  }
}

export class KLDecoder extends Module {
  readonly convIn: Conv2d;
  readonly mid: MidBlock;
  readonly up = new ModuleList<ResolutionLevel>();
  readonly normOut: GroupNorm;
  readonly convOut: Conv2d;

  constructor(c: KLConfig, o: InitOpts = {}) {
    super();
    const { ch, chMult: mult } = c;
    let blockIn = ch * mult[mult.length - 1];
    let res = Math.floor(c.resolution / 2 ** (mult.length - 1));
    this.convIn = this.registerModule('conv_in', new Conv2d(c.embedDim, blockIn, 3, { padding: 1, ...o }));
    this.mid = this.registerModule('mid', new MidBlock(blockIn, c.dropout, o, ['block_1', 'attn_1', 'block_2']));
    // Built from the lowest resolution up, but stored so that `up.N` is level N (the reference prepends).
    const levels: ResolutionLevel[] = [];
    for (let level = mult.length - 1; level >= 0; level--) {
      const lv = new ResolutionLevel('block');
      for (let i = 0; i < c.numResBlocks + 1; i++) {
        lv.blocks.push(new ResnetBlock(blockIn, ch * mult[level], c.dropout, o));
        blockIn = ch * mult[level];
        if (c.decoderAttnResolutions.includes(res)) lv.attn.push(new AttnBlock(blockIn, o));
      }
      if (level !== 0) {
        lv.upsample = lv.registerModule('upsample', new Upsample(blockIn, o));
        res *= 2;
      }
      levels[level] = lv;
    }
    for (const lv of levels) this.up.push(lv);
    this.registerModule('up', this.up);
    this.normOut = this.registerModule('norm_out', normalize(blockIn, o));
    this.convOut = this.registerModule('conv_out', new Conv2d(blockIn, c.outChannels, 3, { padding: 1, ...o }));
  }

  forward(z: Tensor): Tensor {
    let h = this.mid.forward(this.convIn.forward(z));
    for (let level = this.up.length - 1; level >= 0; level--) h = this.up.at(level).forward(h);
    return this.convOut.forward(torch.F.silu(this.normOut.forward(h)));
  }

  get lastLayer(): Tensor {
    return this.convOut.weight;
  }
}

export class AutoencoderKL extends Module {
  readonly encoder: KLEncoder;
  readonly decoder: KLDecoder;
  readonly quantConv: Conv2d;
  readonly postQuantConv: Conv2d;

  constructor(
    readonly config: KLConfig,
    o: InitOpts = {},
  ) {
    super();
    validateKLConfig(config);
    const D = config.embedDim;
    this.encoder = this.registerModule('encoder', new KLEncoder(config, o));
    this.decoder = this.registerModule('decoder', new KLDecoder(config, o));
    this.quantConv = this.registerModule('quant_conv', new Conv2d(2 * D, (config.useVariational ? 2 : 1) * D, 1, o));
    this.postQuantConv = this.registerModule('post_quant_conv', new Conv2d(D, D, 1, o));
  }

  /** Image [B, C, H, W] in [−1, 1] → posterior over latents [B, D, H/f, W/f]. */
  encode(x: Tensor): DiagonalGaussian {
    const f = klDownsample(this.config);
    const [, C, H, W] = x.shape;
    if (x.ndim !== 4 || C !== this.config.inChannels || H % f !== 0 || W % f !== 0) {
      throw new Error(
        `AutoencoderKL.encode: expected [B, ${this.config.inChannels}, H, W] with H, W multiples of ${f}, got [${x.shape}]`,
      );
    }
    let moments = this.quantConv.forward(this.encoder.forward(x));
    // Without the variational head the reference pads the moments with logvar = 1 (kept for parity).
    if (!this.config.useVariational) moments = torch.cat([moments, torch.onesLike(moments)], 1);
    return new DiagonalGaussian(moments);
  }

  /** Latent [B, D, h, w] (unscaled) → image [B, C, H, W]. */
  decode(z: Tensor): Tensor {
    if (z.ndim !== 4 || z.shape[1] !== this.config.embedDim) {
      throw new Error(`AutoencoderKL.decode: expected [B, ${this.config.embedDim}, h, w], got [${z.shape}]`);
    }
    return this.decoder.forward(this.postQuantConv.forward(z));
  }

  /** Image → latents scaled by `scaleFactor`, as the generator consumes them (sampled when a generator is given). */
  encodeLatents(x: Tensor, generator?: Generator): Tensor {
    const post = this.encode(x);
    return (generator ? post.sample(generator) : post.mode()).mul(this.config.scaleFactor);
  }

  /** Scaled latents (the generator's output) → image. */
  decodeLatents(z: Tensor): Tensor {
    return this.decode(z.div(this.config.scaleFactor));
  }

  /** Reconstruction from a posterior sample (training) and the posterior. */
  forward(x: Tensor, generator?: Generator): { recon: Tensor; posterior: DiagonalGaussian } {
    const posterior = this.encode(x);
    const z = this.training && this.config.useVariational ? posterior.sample(generator) : posterior.mode();
    return { recon: this.decode(z), posterior };
  }
}

export function validateKLConfig(c: KLConfig): void {
  const widths = c.chMult.map((m) => m * c.ch);
  if (widths.some((w) => w % 32 !== 0))
    throw new Error(`KLConfig: ch·ch_mult must be multiples of 32 (GroupNorm), got ${widths}`);
  if (!(c.embedDim > 0)) throw new Error(`KLConfig: embedDim must be positive, got ${c.embedDim}`);
  if (!(c.scaleFactor > 0)) throw new Error(`KLConfig: scaleFactor must be positive, got ${c.scaleFactor}`);
  if (c.numResBlocks < 1) throw new Error(`KLConfig: numResBlocks must be ≥ 1, got ${c.numResBlocks}`);
}
