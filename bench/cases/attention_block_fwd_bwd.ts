// One pre-norm transformer block — LayerNorm, Attention (fused qkv, 4 heads, sdpa), LayerNorm,
// Mlp (GELU, ×4) with residuals — forward + backward on batch 16 × 256 tokens × width 256.
// bench/torch/attention_block_fwd_bwd.py is the same block with timm's layer layout in torch.nn.
import { Attention } from '../../src/nn/attention.ts';
import { LayerNorm } from '../../src/nn/layers.ts';
import { Mlp } from '../../src/nn/mlp.ts';
import { Module } from '../../src/nn/module.ts';
import type { Tensor } from '../../src/torch/index.ts';
import * as torch from '../../src/torch/index.ts';
import { medianMs } from '../timing.ts';

const [B, L, D, H] = [16, 256, 256, 4];

class Block extends Module {
  readonly norm1: LayerNorm;
  readonly attn: Attention;
  readonly norm2: LayerNorm;
  readonly mlp: Mlp;
  constructor(g: torch.Generator) {
    super();
    this.norm1 = this.registerModule('norm1', new LayerNorm(D));
    this.attn = this.registerModule('attn', new Attention(D, H, { qkvBias: true, generator: g }));
    this.norm2 = this.registerModule('norm2', new LayerNorm(D));
    this.mlp = this.registerModule('mlp', new Mlp(D, 4 * D, { generator: g }));
  }
  forward(x: Tensor): Tensor {
    const h = x.add(this.attn.forward(this.norm1.forward(x)));
    return h.add(this.mlp.forward(this.norm2.forward(h)));
  }
}

function run(): number {
  torch.setNumThreads(2);
  const g = new torch.Generator(0);
  const block = new Block(g);
  const x = torch.keep(torch.randn([B, L, D], { generator: g }).requiresGrad_());
  const ms = medianMs(
    () => {
      torch.tidy(() => block.forward(x).sum().backward());
      block.zeroGrad();
      x.grad = null;
    },
    { warmup: 2, repeats: 9 },
  );
  x.dispose();
  torch.dispose(block.parameters());
  return ms;
}

export default { name: 'attention_block_fwd_bwd', unit: 'ms', run };

if (import.meta.url === `file://${process.argv[1]}`) console.log(run().toFixed(2));
