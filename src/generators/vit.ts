// timm's ViT `Block` (pre-norm self-attention + MLP, both residual), the block of MAR's encoder
// and decoder (LTH14/mar models/mar.py builds `timm.models.vision_transformer.Block` with
// qkv_bias=True and LayerNorm eps 1e-6). D2C's `crossattn` fusion adds an optional pre-norm
// cross-attention sub-layer between the two (DESIGN.md, "Fusion crossattn"): `norm_cross` +
// `cross_attn` (+ `cross_gate` when gated), so a block without it keeps exactly timm's parameter names.

import { Attention, CrossAttention } from '../nn/attention.ts';
import { addResidual, type InitOpts, LayerNorm } from '../nn/layers.ts';
import { Mlp } from '../nn/mlp.ts';
import { Module } from '../nn/module.ts';
import type { Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';

export interface BlockOpts extends InitOpts {
  mlpRatio?: number;
  attnDrop?: number;
  projDrop?: number;
  /** Width of a context to cross-attend to; absent = plain timm block. */
  crossDim?: number;
  /**
   * Flamingo's gate on the cross-attention branch: its output is scaled by tanh(cross_gate), a
   * scalar that starts at 0, so a new block starts as the plain block and training opens the gate.
   */
  crossGate?: boolean;
}

export class Block extends Module {
  readonly norm1: LayerNorm;
  readonly attn: Attention;
  readonly norm_cross: LayerNorm | null = null;
  readonly cross_attn: CrossAttention | null = null;
  readonly cross_gate: Tensor | null = null; // [1]
  readonly norm2: LayerNorm;
  readonly mlp: Mlp;

  constructor(
    readonly dim: number,
    heads: number,
    o: BlockOpts = {},
  ) {
    super();
    const init: InitOpts = { generator: o.generator, dtype: o.dtype, device: o.device };
    const drop = { ...init, attnDrop: o.attnDrop ?? 0, projDrop: o.projDrop ?? 0 };
    this.norm1 = this.registerModule('norm1', new LayerNorm(dim, 1e-6, true, init));
    this.attn = this.registerModule('attn', new Attention(dim, heads, { qkvBias: true, ...drop }));
    if (o.crossDim !== undefined) {
      this.norm_cross = this.registerModule('norm_cross', new LayerNorm(dim, 1e-6, true, init));
      this.cross_attn = this.registerModule('cross_attn', new CrossAttention(dim, o.crossDim, heads, { qkvBias: true, ...drop }));
      if (o.crossGate) this.cross_gate = this.registerParameter('cross_gate', torch.zeros([1], init));
    }
    this.norm2 = this.registerModule('norm2', new LayerNorm(dim, 1e-6, true, init));
    this.mlp = this.registerModule('mlp', new Mlp(dim, Math.trunc(dim * (o.mlpRatio ?? 4)), { ...init, drop: o.projDrop ?? 0 }));
  }

  /**
   * x [B, L, D]; ctx [B, Lc, Dc] (or its projected keys/values) when the block cross-attends;
   * ctxMask (bool, broadcast to [B, H, L, Lc]): which context entries each token may attend to.
   */
  forward(x: Tensor, ctx?: Tensor | [Tensor, Tensor], ctxMask?: Tensor): Tensor {
    if (this.cross_attn && ctx === undefined) throw new Error('Block: this block cross-attends but no context was given');
    let h = addResidual(x, this.attn.forward(this.norm1.forward(x)));
    if (this.cross_attn && this.norm_cross && ctx !== undefined) {
      const branch = this.cross_attn.forward(this.norm_cross.forward(h), ctx, { mask: ctxMask });
      h = addResidual(h, this.cross_gate ? branch.mul(this.cross_gate.tanh()) : branch);
    }
    return addResidual(h, this.mlp.forward(this.norm2.forward(h)));
  }
}
