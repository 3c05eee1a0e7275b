// The convolutional building blocks shared by both tokenizers. LlamaGen's VQ model
// (tokenizer/tokenizer_image/vq_model.py) and MAR's KL-VAE (models/vae.py) both inherit them from
// taming-transformers / LDM with the same submodule names (norm1, conv1, norm2, conv2, nin_shortcut;
// norm, q, k, v, proj_out; conv), so one implementation loads both checkpoints. The two differ only in
// how the encoder/decoder containers are named, which lives in vq.ts and kl.ts.

import { addResidual, Conv2d, GroupNorm, type InitOpts } from '../nn/layers.ts';
import { Module, ModuleList } from '../nn/module.ts';
import type { Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';

/** GroupNorm(32, eps 1e-6, affine): the `Normalize` of both references. */
export function normalize(channels: number, o: InitOpts = {}): GroupNorm {
  if (channels % 32 !== 0) throw new Error(`tokenizer GroupNorm(32): channels must be a multiple of 32, got ${channels}`);
  return new GroupNorm(32, channels, 1e-6, o);
}

/** Pre-activation residual block: GN → swish → conv3 → GN → swish → dropout → conv3, plus a 1×1 shortcut when widths differ. */
export class ResnetBlock extends Module {
  readonly norm1: GroupNorm;
  readonly conv1: Conv2d;
  readonly norm2: GroupNorm;
  readonly conv2: Conv2d;
  readonly ninShortcut: Conv2d | null;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly dropout = 0,
    o: InitOpts = {},
  ) {
    super();
    this.norm1 = this.registerModule('norm1', normalize(inChannels, o));
    this.conv1 = this.registerModule('conv1', new Conv2d(inChannels, outChannels, 3, { padding: 1, ...o }));
    this.norm2 = this.registerModule('norm2', normalize(outChannels, o));
    this.conv2 = this.registerModule('conv2', new Conv2d(outChannels, outChannels, 3, { padding: 1, ...o }));
    // Both references default to conv_shortcut=False, so only the 1×1 `nin_shortcut` ever exists.
    this.ninShortcut =
      inChannels !== outChannels ? this.registerModule('nin_shortcut', new Conv2d(inChannels, outChannels, 1, o)) : null;
  }

  forward(x: Tensor): Tensor {
    let h = this.conv1.forward(torch.F.silu(this.norm1.forward(x)));
    h = torch.F.dropout(torch.F.silu(this.norm2.forward(h)), this.dropout, this.training);
    h = this.conv2.forward(h);
    const skip = this.ninShortcut ? this.ninShortcut.forward(x) : x;
    return addResidual(skip, h);
  }
}

/** Single-head self-attention over the H·W positions with 1×1-conv projections. */
export class AttnBlock extends Module {
  readonly norm: GroupNorm;
  readonly q: Conv2d;
  readonly k: Conv2d;
  readonly v: Conv2d;
  readonly projOut: Conv2d;

  constructor(
    readonly channels: number,
    o: InitOpts = {},
  ) {
    super();
    this.norm = this.registerModule('norm', normalize(channels, o));
    this.q = this.registerModule('q', new Conv2d(channels, channels, 1, o));
    this.k = this.registerModule('k', new Conv2d(channels, channels, 1, o));
    this.v = this.registerModule('v', new Conv2d(channels, channels, 1, o));
    this.projOut = this.registerModule('proj_out', new Conv2d(channels, channels, 1, o));
  }

  forward(x: Tensor): Tensor {
    const [B, C, H, W] = x.shape;
    const h = this.norm.forward(x);
    // The references compute softmax(qᵀk / √C) v with two bmm's; SDPA is the same product (scale 1/√C).
    const tokens = (t: Tensor) =>
      t
        .reshape(B, C, H * W)
        .transpose(1, 2)
        .unsqueeze(1); // [B, 1, HW, C]
    const att = torch.F.scaledDotProductAttention(
      tokens(this.q.forward(h)),
      tokens(this.k.forward(h)),
      tokens(this.v.forward(h)),
    );
    // contiguous: the transposed view would reshape to a channels-last [B, C, H, W], and every conv
    // after it (forward and backward, the whole decoder) would then run channels-last, 5–10 % slower
    const out = att.squeeze(1).transpose(1, 2).contiguous().view(B, C, H, W); // [B, C, H, W]
    return x.add(this.projOut.forward(out));
  }
}

/** Nearest ×2 upsampling followed by a 3×3 conv. */
export class Upsample extends Module {
  readonly conv: Conv2d;

  constructor(channels: number, o: InitOpts = {}) {
    super();
    this.conv = this.registerModule('conv', new Conv2d(channels, channels, 3, { padding: 1, ...o }));
  }

  forward(x: Tensor): Tensor {
    return this.conv.forward(torch.F.upsampleNearest(x, 2));
  }
}

/** Stride-2 3×3 conv after padding one zero row/column at the bottom/right (the references' asymmetric pad). */
export class Downsample extends Module {
  readonly conv: Conv2d;

  constructor(channels: number, o: InitOpts = {}) {
    super();
    this.conv = this.registerModule('conv', new Conv2d(channels, channels, 3, { stride: 2, ...o }));
  }

  forward(x: Tensor): Tensor {
    return this.conv.forward(torch.F.pad(x, [0, 1, 0, 1]));
  }
}

/**
 * One resolution level: ResnetBlocks (each followed by its AttnBlock where the level has attention),
 * then an optional resampler. The references name the block list differently (`res` in LlamaGen's
 * VQ, `block` in MAR's KL), hence `blocksName`.
 */
export class ResolutionLevel extends Module {
  readonly blocks: ModuleList<ResnetBlock>;
  readonly attn = new ModuleList<AttnBlock>();
  downsample: Downsample | null = null;
  upsample: Upsample | null = null;

  constructor(blocksName: 'res' | 'block') {
    super();
    this.blocks = this.registerModule(blocksName, new ModuleList<ResnetBlock>());
    this.registerModule('attn', this.attn);
  }

  forward(x: Tensor): Tensor {
    let h = x;
    for (let i = 0; i < this.blocks.length; i++) {
      h = this.blocks.at(i).forward(h);
      if (this.attn.length > 0) h = this.attn.at(i).forward(h);
    }
    if (this.downsample) h = this.downsample.forward(h);
    if (this.upsample) h = this.upsample.forward(h);
    return h;
  }
}

/** The middle: ResnetBlock, AttnBlock, ResnetBlock, under the reference's three names. */
export class MidBlock extends Module {
  readonly block1: ResnetBlock;
  readonly attn: AttnBlock;
  readonly block2: ResnetBlock;

  constructor(ch: number, dropout: number, o: InitOpts, names: [string, string, string]) {
    super();
    this.block1 = this.registerModule(names[0], new ResnetBlock(ch, ch, dropout, o));
    this.attn = this.registerModule(names[1], new AttnBlock(ch, o));
    this.block2 = this.registerModule(names[2], new ResnetBlock(ch, ch, dropout, o));
  }

  forward(x: Tensor): Tensor {
    return this.block2.forward(this.attn.forward(this.block1.forward(x)));
  }
}
