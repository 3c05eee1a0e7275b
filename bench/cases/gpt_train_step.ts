// One GPT training step — forward, backward, AdamW — written with torch ops directly (no nn
// modules), so it measures the engine: batch 32, 64 tokens, width 256, 4 heads, 4 pre-norm layers
// with causal SDPA and a GELU MLP ×4, vocabulary 1024, AdamW through aten::_fused_adamw_.
// bench/torch/gpt_train_step.py is the same model with torch.nn and torch.optim.AdamW(fused=True).

import type { Tensor } from '../../src/torch/index.ts';
import * as torch from '../../src/torch/index.ts';
import { medianMs } from '../timing.ts';

const [B, T, D, H, L, V] = [32, 64, 256, 4, 4, 1024];
const ADAMW = { lr: 3e-4, beta1: 0.9, beta2: 0.95, weightDecay: 0.1, eps: 1e-8 };
const F = torch.F;

interface Layer {
  ln1w: Tensor;
  ln1b: Tensor;
  qkvw: Tensor;
  qkvb: Tensor;
  projw: Tensor;
  projb: Tensor;
  ln2w: Tensor;
  ln2b: Tensor;
  fcw: Tensor;
  fcb: Tensor;
  fc2w: Tensor;
  fc2b: Tensor;
}

function makeParams(gen: torch.Generator) {
  return torch.tidy(() => {
    const w = (out: number, inp: number) => torch.randn([out, inp], { generator: gen }).mul(0.02);
    const layers: Layer[] = Array.from({ length: L }, () => ({
      ln1w: torch.ones([D]),
      ln1b: torch.zeros([D]),
      qkvw: w(3 * D, D),
      qkvb: torch.zeros([3 * D]),
      projw: w(D, D),
      projb: torch.zeros([D]),
      ln2w: torch.ones([D]),
      ln2b: torch.zeros([D]),
      fcw: w(4 * D, D),
      fcb: torch.zeros([4 * D]),
      fc2w: w(D, 4 * D),
      fc2b: torch.zeros([D]),
    }));
    return { wte: w(V, D), wpe: w(T, D), layers, lnfw: torch.ones([D]), lnfb: torch.zeros([D]), head: w(V, D) };
  });
}
type Params = ReturnType<typeof makeParams>;

function block(x: Tensor, p: Layer): Tensor {
  const h = F.layerNorm(x, [D], p.ln1w, p.ln1b);
  const [q, k, v] = F.linear(h, p.qkvw, p.qkvb)
    .view(B, T, 3, H, D / H)
    .permute(2, 0, 3, 1, 4) // [3, B, H, T, D/H]
    .unbind(0);
  const a = F.scaledDotProductAttention(q, k, v, { isCausal: true }).transpose(1, 2).reshape(B, T, D); // [B, T, D]
  const x1 = x.add(F.linear(a, p.projw, p.projb));
  const m = F.linear(F.gelu(F.linear(F.layerNorm(x1, [D], p.ln2w, p.ln2b), p.fcw, p.fcb)), p.fc2w, p.fc2b);
  return x1.add(m);
}

function loss(p: Params, idx: Tensor, targets: Tensor, pos: Tensor): Tensor {
  let x = F.embedding(p.wte, idx).add(F.embedding(p.wpe, pos)); // [B, T, D]
  for (const layer of p.layers) x = block(x, layer);
  const logits = F.linear(F.layerNorm(x, [D], p.lnfw, p.lnfb), p.head); // [B, T, V]
  return F.crossEntropy(logits.view(B * T, V), targets.view(B * T));
}

function run(): number {
  torch.setNumThreads(2);
  const gen = new torch.Generator(0);
  const p = makeParams(gen);
  const params: Tensor[] = [p.wte, p.wpe, ...p.layers.flatMap((l) => Object.values(l)), p.lnfw, p.lnfb, p.head];
  for (const t of params) t.requiresGrad = true;
  const state = torch.tidy(() => ({
    expAvg: params.map((t) => torch.zerosLike(t)),
    expAvgSq: params.map((t) => torch.zerosLike(t)),
    steps: params.map(() => torch.zeros([])),
    idx: torch.randint(0, V, [B, T], { generator: gen }),
    targets: torch.randint(0, V, [B, T], { generator: gen }),
    pos: torch.arange(T),
  }));
  const step = () =>
    torch.tidy(() => {
      loss(p, state.idx, state.targets, state.pos).backward();
      const grads = params.map((t) => t.grad!);
      torch.noGrad(() => {
        for (const s of state.steps) s.add_(1);
        const { lr, beta1, beta2, weightDecay, eps } = ADAMW;
        torch.callOpVoid(
          'aten::_fused_adamw_',
          params,
          grads,
          state.expAvg,
          state.expAvgSq,
          [],
          state.steps,
          lr,
          beta1,
          beta2,
          weightDecay,
          eps,
          false,
          false,
        );
      });
      for (const t of params) t.grad = null; // zero_grad(set_to_none=True)
    });
  const ms = medianMs(step, { warmup: 2, repeats: 5 });
  torch.dispose([params, state]);
  return ms;
}

export default { name: 'gpt_train_step', unit: 'ms', run };

if (import.meta.url === `file://${process.argv[1]}`) console.log(run().toFixed(1));
