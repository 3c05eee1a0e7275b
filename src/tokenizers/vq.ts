// LlamaGen's VQ tokenizer (FoundationVision/LlamaGen tokenizer/tokenizer_image/vq_model.py): a
// convolutional encoder, a 1×1 `quant_conv` to the codebook width, the VectorQuantizer, a 1×1
// `post_quant_conv` and a mirrored decoder. Parameter names follow the reference exactly
// (`encoder.conv_blocks.0.res.0.norm1.weight`, `quantize.embedding.weight`, …) so the public
// `vq_ds16_c2i.pt` (converted by scripts/convert_checkpoint.py) loads with strict names.

import { Conv2d, type GroupNorm, type InitOpts } from '../nn/layers.ts';
import { Module, ModuleList } from '../nn/module.ts';
import type { Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';
import { AttnBlock, Downsample, MidBlock, normalize, ResnetBlock, ResolutionLevel, Upsample } from './conv_blocks.ts';
import { type QuantizerOutput, VectorQuantizer } from './quantizer.ts';

export interface VQConfig {
  codebookSize: number;
  codebookEmbedDim: number;
  codebookL2Norm: boolean;
  codebookShowUsage: boolean;
  commitLossBeta: number;
  entropyLossRatio: number;
  encoderChMult: number[];
  decoderChMult: number[];
  zChannels: number;
  ch: number; // base width (128 in LlamaGen's Encoder/Decoder defaults)
  numResBlocks: number; // per level; the decoder has one more (2 in LlamaGen)
  inChannels: number; // 3 for RGB, 1 for Fashion-MNIST
  outChannels: number;
  dropout: number;
}

/** LlamaGen's ModelArgs defaults plus the Encoder/Decoder defaults VQModel does not override. */
export const VQ_DEFAULTS: VQConfig = {
  codebookSize: 16384,
  codebookEmbedDim: 8,
  codebookL2Norm: true,
  codebookShowUsage: true,
  commitLossBeta: 0.25,
  entropyLossRatio: 0,
  encoderChMult: [1, 1, 2, 2, 4],
  decoderChMult: [1, 1, 2, 2, 4],
  zChannels: 256,
  ch: 128,
  numResBlocks: 2,
  inChannels: 3,
  outChannels: 3,
  dropout: 0,
};

/** Spatial downsampling factor of the encoder (2^(levels−1)): 16 for vq16. */
export function vqDownsample(c: VQConfig): number {
  return 2 ** (c.encoderChMult.length - 1);
}

export class VQEncoder extends Module {
  readonly convIn: Conv2d;
  readonly convBlocks = this.registerModule('conv_blocks', new ModuleList<ResolutionLevel>());
  readonly mid: MidBlock;
  readonly normOut: GroupNorm;
  readonly convOut: Conv2d;

  constructor(c: VQConfig, o: InitOpts = {}) {
    super();
    const { ch, encoderChMult: mult, numResBlocks } = c;
    this.convIn = this.registerModule('conv_in', new Conv2d(c.inChannels, ch, 3, { padding: 1, ...o }));
    let blockIn = ch;
    mult.forEach((m, level) => {
      const lv = new ResolutionLevel('res');
      const last = level === mult.length - 1;
      for (let i = 0; i < numResBlocks; i++) {
        lv.blocks.push(new ResnetBlock(blockIn, ch * m, c.dropout, o));
        blockIn = ch * m;
        if (last) lv.attn.push(new AttnBlock(blockIn, o));
      }
      if (!last) lv.downsample = lv.registerModule('downsample', new Downsample(blockIn, o));
      this.convBlocks.push(lv);
    });
    this.mid = this.registerModule('mid', new MidBlock(blockIn, c.dropout, o, ['0', '1', '2']));
    this.normOut = this.registerModule('norm_out', normalize(blockIn, o));
    this.convOut = this.registerModule('conv_out', new Conv2d(blockIn, c.zChannels, 3, { padding: 1, ...o }));
  }

  forward(x: Tensor): Tensor {
    let h = this.convIn.forward(x);
    for (const lv of this.convBlocks) h = lv.forward(h);
    h = this.mid.forward(h);
    return this.convOut.forward(torch.F.silu(this.normOut.forward(h)));
  }
}

export class VQDecoder extends Module {
  readonly convIn: Conv2d;
  readonly mid: MidBlock;
  readonly convBlocks = this.registerModule('conv_blocks', new ModuleList<ResolutionLevel>());
  readonly normOut: GroupNorm;
  readonly convOut: Conv2d;

  constructor(c: VQConfig, o: InitOpts = {}) {
    super();
    const { ch, decoderChMult: mult, numResBlocks } = c;
    let blockIn = ch * mult[mult.length - 1];
    this.convIn = this.registerModule('conv_in', new Conv2d(c.zChannels, blockIn, 3, { padding: 1, ...o }));
    this.mid = this.registerModule('mid', new MidBlock(blockIn, c.dropout, o, ['0', '1', '2']));
    // conv_blocks.0 is the lowest resolution (the reference iterates reversed(range(levels))).
    for (let level = mult.length - 1; level >= 0; level--) {
      const lv = new ResolutionLevel('res');
      for (let i = 0; i < numResBlocks + 1; i++) {
        lv.blocks.push(new ResnetBlock(blockIn, ch * mult[level], c.dropout, o));
        blockIn = ch * mult[level];
        if (level === mult.length - 1) lv.attn.push(new AttnBlock(blockIn, o));
      }
      if (level !== 0) lv.upsample = lv.registerModule('upsample', new Upsample(blockIn, o));
      this.convBlocks.push(lv);
    }
    this.normOut = this.registerModule('norm_out', normalize(blockIn, o));
    this.convOut = this.registerModule('conv_out', new Conv2d(blockIn, c.outChannels, 3, { padding: 1, ...o }));
  }

  forward(z: Tensor): Tensor {
    let h = this.mid.forward(this.convIn.forward(z));
    for (const lv of this.convBlocks) h = lv.forward(h);
    return this.convOut.forward(torch.F.silu(this.normOut.forward(h)));
  }

  /** The layer LlamaGen's adaptive GAN weight differentiates against. */
  get lastLayer(): Tensor {
    return this.convOut.weight;
  }
}

export interface VQEncodeOutput extends QuantizerOutput {
  preQuant: Tensor; // quant_conv(encoder(x)) [B, D, h, w]
}

export class VQModel extends Module {
  readonly encoder: VQEncoder;
  readonly decoder: VQDecoder;
  readonly quantize: VectorQuantizer;
  readonly quantConv: Conv2d;
  readonly postQuantConv: Conv2d;

  constructor(
    readonly config: VQConfig,
    o: InitOpts = {},
  ) {
    super();
    validateVQConfig(config);
    this.encoder = this.registerModule('encoder', new VQEncoder(config, o));
    this.decoder = this.registerModule('decoder', new VQDecoder(config, o));
    this.quantize = this.registerModule(
      'quantize',
      new VectorQuantizer(
        {
          codebookSize: config.codebookSize,
          embedDim: config.codebookEmbedDim,
          beta: config.commitLossBeta,
          entropyLossRatio: config.entropyLossRatio,
          l2Norm: config.codebookL2Norm,
          showUsage: config.codebookShowUsage,
        },
        o,
      ),
    );
    this.quantConv = this.registerModule('quant_conv', new Conv2d(config.zChannels, config.codebookEmbedDim, 1, o));
    this.postQuantConv = this.registerModule('post_quant_conv', new Conv2d(config.codebookEmbedDim, config.zChannels, 1, o));
  }

  /** Image [B, C, H, W] in [−1, 1] → pre-quant features, quantised map, codes (+ losses and stats in training). */
  encode(x: Tensor): VQEncodeOutput {
    this.checkImage(x);
    const preQuant = this.quantConv.forward(this.encoder.forward(x));
    return { preQuant, ...this.quantize.forward(preQuant) };
  }

  /** Image → codes [B, h, w] (int64), h = H / downsample. */
  encodeCodes(x: Tensor): Tensor {
    return this.encode(x).indices;
  }

  /** Quantised map [B, D, h, w] → image [B, C, H, W]. */
  decode(quant: Tensor): Tensor {
    return this.decoder.forward(this.postQuantConv.forward(quant));
  }

  /** Codes [B, h, w] → image (LlamaGen's decode_code). */
  decodeCodes(codes: Tensor): Tensor {
    return this.decode(this.quantize.lookup(codes));
  }

  /** Reconstruction and the quantiser's output (losses only in training mode). */
  forward(x: Tensor): { recon: Tensor; enc: VQEncodeOutput } {
    const enc = this.encode(x);
    return { recon: this.decode(enc.quant), enc };
  }

  private checkImage(x: Tensor): void {
    const f = vqDownsample(this.config);
    const [, C, H, W] = x.shape;
    if (x.ndim !== 4 || C !== this.config.inChannels || H % f !== 0 || W % f !== 0) {
      throw new Error(
        `VQModel.encode: expected [B, ${this.config.inChannels}, H, W] with H, W multiples of ${f}, got [${x.shape}]`,
      );
    }
  }
}

export function validateVQConfig(c: VQConfig): void {
  const widths = [...c.encoderChMult, ...c.decoderChMult].map((m) => m * c.ch);
  if (widths.some((w) => w % 32 !== 0))
    throw new Error(`VQConfig: ch·ch_mult must be multiples of 32 (GroupNorm), got ${widths}`);
  if (c.encoderChMult.length !== c.decoderChMult.length) {
    throw new Error(`VQConfig: encoder and decoder need the same number of levels, got ${c.encoderChMult} / ${c.decoderChMult}`);
  }
  if (c.numResBlocks < 1) throw new Error(`VQConfig: numResBlocks must be ≥ 1, got ${c.numResBlocks}`);
}
