// One pre-norm transformer block (bench/prenorm_block.ts: LayerNorm, Attention with fused qkv and
// sdpa, LayerNorm, GELU Mlp ×4, residuals), 4 heads, forward + backward on batch 16 × 256 tokens ×
// width 256. bench/torch/attention_block_fwd_bwd.py times its torch.nn twin.
import * as torch from '../../src/torch/index.ts';
import { PreNormBlock } from '../prenorm_block.ts';
import { medianMs } from '../timing.ts';

const [B, L, D, H] = [16, 256, 256, 4];

function run(): number {
  torch.setNumThreads(2);
  const g = new torch.Generator(0);
  const block = new PreNormBlock(D, H, { generator: g });
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
