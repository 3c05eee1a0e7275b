// The pre-norm transformer block that attention_block_fwd_bwd and gpt_train_step time, built from
// d2c's own modules: LayerNorm, Attention (fused qkv, sdpa), LayerNorm, Mlp (GELU, ×4), with
// residuals. bench/torch/prenorm_block.py is its torch.nn twin (timm's layer layout).
import { Attention } from '../src/nn/attention.ts';
import { addResidual, LayerNorm } from '../src/nn/layers.ts';
import { Mlp } from '../src/nn/mlp.ts';
import { Module } from '../src/nn/module.ts';
import type { Generator, Tensor } from '../src/torch/index.ts';

export class PreNormBlock extends Module {
  readonly norm1: LayerNorm;
  readonly attn: Attention;
  readonly norm2: LayerNorm;
  readonly mlp: Mlp;

  constructor(
    dim: number,
    heads: number,
    readonly o: { causal?: boolean; generator: Generator },
  ) {
    super();
    this.norm1 = this.registerModule('norm1', new LayerNorm(dim));
    this.attn = this.registerModule('attn', new Attention(dim, heads, { qkvBias: true, generator: o.generator }));
    this.norm2 = this.registerModule('norm2', new LayerNorm(dim));
    this.mlp = this.registerModule('mlp', new Mlp(dim, 4 * dim, { generator: o.generator }));
  }

  // Residuals as d2c's own blocks add them (src/generators/vit.ts): each sub-layer's output is
  // released right after its add, as PyTorch frees it at its last reference.
  forward(x: Tensor): Tensor {
    const h = addResidual(x, this.attn.forward(this.norm1.forward(x), { causal: this.o.causal }));
    return addResidual(h, this.mlp.forward(this.norm2.forward(h)));
  }
}
