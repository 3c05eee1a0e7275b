// One GPT training step — forward, backward, AdamW — built from d2c's own modules and optimizer
// as a user would write it (blocks: bench/prenorm_block.ts): batch 32, 64 tokens, width 256, 4 heads, 4 pre-norm layers with causal
// attention and a GELU MLP ×4, vocabulary 1024, learned positions, AdamW (lr 3e-4, betas 0.9/0.95,
// weight decay 0.1 on every parameter) over aten::_fused_adamw_. bench/torch/gpt_train_step.py is
// the same model written with torch.nn and torch.optim.AdamW(fused=True).

import { Embedding, LayerNorm, Linear } from '../../src/nn/layers.ts';
import { Module, ModuleList } from '../../src/nn/module.ts';
import { AdamW } from '../../src/optim/adamw.ts';
import type { Tensor } from '../../src/torch/index.ts';
import * as torch from '../../src/torch/index.ts';
import { PreNormBlock } from '../prenorm_block.ts';
import { medianMs } from '../timing.ts';

const [B, T, D, H, L, V] = [32, 64, 256, 4, 4, 1024];

class GPT extends Module {
  readonly wte: Embedding;
  readonly wpe: Embedding;
  readonly blocks: ModuleList<PreNormBlock>;
  readonly lnf: LayerNorm;
  readonly head: Linear;
  constructor(g: torch.Generator) {
    super();
    this.wte = this.registerModule('wte', new Embedding(V, D, { generator: g }));
    this.wpe = this.registerModule('wpe', new Embedding(T, D, { generator: g }));
    this.blocks = this.registerModule(
      'blocks',
      new ModuleList(Array.from({ length: L }, () => new PreNormBlock(D, H, { causal: true, generator: g }))),
    );
    this.lnf = this.registerModule('lnf', new LayerNorm(D));
    this.head = this.registerModule('head', new Linear(D, V, false, { generator: g }));
  }
  loss(idx: Tensor, targets: Tensor, pos: Tensor): Tensor {
    let x = this.wte.forward(idx).add(this.wpe.forward(pos)); // [B, T, D]
    for (const b of this.blocks) x = b.forward(x);
    const logits = this.head.forward(this.lnf.forward(x)); // [B, T, V]
    return torch.F.crossEntropy(logits.view(B * T, V), targets.view(B * T));
  }
}

function run(): number {
  torch.setNumThreads(2);
  const gen = new torch.Generator(0);
  const model = new GPT(gen);
  const opt = new AdamW(model.parameters(), { lr: 3e-4, betas: [0.9, 0.95], weightDecay: 0.1, eps: 1e-8 });
  const data = torch.keep({
    idx: torch.randint(0, V, [B, T], { generator: gen }),
    targets: torch.randint(0, V, [B, T], { generator: gen }),
    pos: torch.arange(T),
  });
  const step = () => {
    torch.tidy(() => model.loss(data.idx, data.targets, data.pos).backward());
    opt.step();
    opt.zeroGrad(); // set_to_none, as PyTorch's default
  };
  const ms = medianMs(step, { warmup: 3, repeats: 15 });
  opt.dispose();
  torch.dispose([model.parameters(), data]);
  return ms;
}

export default { name: 'gpt_train_step', unit: 'ms', run };

if (import.meta.url === `file://${process.argv[1]}`) console.log(run().toFixed(1));
