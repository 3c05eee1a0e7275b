// AdamW + clipping against torch.optim.AdamW / clip_grad_norm_ (fixture adamw_steps), and the
// no-decay grouping and optimizer state round trip.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Embedding, LayerNorm, Linear } from '../src/nn/layers.ts';
import { Module } from '../src/nn/module.ts';
import { AdamW, clipGradNorm_, paramGroupsNoDecay } from '../src/optim/index.ts';
import type { Tensor } from '../src/torch/index.ts';
import * as torch from '../src/torch/index.ts';

const FIX = new URL('./fixtures/reference/adamw_steps.io.safetensors', import.meta.url).pathname;

function maxAbsDiff(a: Tensor, b: Tensor): number {
  return torch.tidy(() => a.sub(b).abs().max().item());
}

test('adamw_steps fixture: 3 AdamW steps, two groups, global-norm clipping, to 1e-6', () => {
  const io = torch.loadSafetensors(FIX);
  const get = (k: string) => io.get(k) as Tensor;
  const w = get('w0').clone().requiresGrad_();
  const b = get('b0').clone().requiresGrad_();
  torch.keep([w, b]);
  const opt = new AdamW(
    [
      { params: [w], weightDecay: 0.02 },
      { params: [b], weightDecay: 0 },
    ],
    { lr: 1e-2, betas: [0.9, 0.95], eps: 1e-8 },
  );
  for (let i = 0; i < 3; i++) {
    w.grad = get(`grad_w${i}`).clone();
    b.grad = get(`grad_b${i}`).clone();
    const total = clipGradNorm_([w, b], 3.0);
    assert.ok(Math.abs(total - get(`total_norm${i}`).item()) <= 1e-6 * Math.max(1, total), `total_norm${i}`);
    opt.step();
    const dw = maxAbsDiff(w, get(`w${i + 1}`));
    const db = maxAbsDiff(b, get(`b${i + 1}`));
    assert.ok(dw <= 1e-6 && db <= 1e-6, `step ${i}: |w|=${dw} |b|=${db}`);
  }
  assert.equal(opt.stepCount, 3);
});

test('clipGradNorm_ leaves small gradients alone and scales large ones to maxNorm', () => {
  torch.tidy(() => {
    const p = torch.zeros([2]).requiresGrad_();
    const q = torch.zeros([1]).requiresGrad_();
    p.grad = torch.tensor([3, 0]);
    q.grad = torch.tensor([4]);
    assert.equal(clipGradNorm_([p, q], 10), 5);
    assert.deepEqual((p.grad as Tensor).toArray(), [3, 0]);
    const total = clipGradNorm_([p, q], 1);
    assert.equal(total, 5);
    const scale = 1 / (5 + 1e-6);
    assert.ok(Math.abs((p.grad as Tensor).toArray()[0] - 3 * scale) < 1e-7);
    assert.ok(Math.abs((q.grad as Tensor).toArray()[0] - 4 * scale) < 1e-7);
  });
});

test('one AdamW step matches the closed form (decoupled decay, bias correction)', () => {
  torch.tidy(() => {
    const p = torch.tensor([1.0, -2.0], { dtype: 'float64' }).requiresGrad_();
    const opt = new AdamW([p], { lr: 0.1, betas: [0.9, 0.99], eps: 1e-8, weightDecay: 0.5 });
    p.grad = torch.tensor([0.5, 2.0], { dtype: 'float64' });
    opt.step();
    // Step 1: m̂ = g, v̂ = g², so the update is lr·g/(|g|+eps) after p ← p(1 − lr·wd).
    const exp = [1.0 * (1 - 0.05) - (0.1 * 0.5) / (0.5 + 1e-8), -2.0 * (1 - 0.05) - (0.1 * 2.0) / (2.0 + 1e-8)];
    const got = p.toArray();
    for (let i = 0; i < 2; i++) assert.ok(Math.abs(got[i] - exp[i]) < 1e-12, `${got[i]} vs ${exp[i]}`);
    opt.dispose();
  });
});

class Tiny extends Module {
  readonly emb = this.registerModule('emb', new Embedding(5, 4));
  readonly fc = this.registerModule('fc', new Linear(4, 3));
  readonly norm = this.registerModule('norm', new LayerNorm(3));
  readonly pos = this.registerParameter('pos', torch.zeros([1, 2, 4]));
}

test('paramGroupsNoDecay exempts biases, 1-d params and embedding tables', () => {
  const groups = paramGroupsNoDecay(new Tiny(), 0.05);
  assert.deepEqual(groups[0].names, ['emb.weight', 'fc.bias', 'norm.weight', 'norm.bias']);
  assert.equal(groups[0].weightDecay, 0);
  assert.deepEqual(groups[1].names, ['pos', 'fc.weight']);
  assert.equal(groups[1].weightDecay, 0.05);
  const skip = paramGroupsNoDecay(new Tiny(), 0.05, { skip: (n) => n === 'pos', embeddings: false });
  assert.deepEqual(skip[1].names, ['emb.weight', 'fc.weight']);
});

test('optimizer state dict round-trips and continues identically; mismatches are named', () => {
  const run = (steps: number, opt: AdamW, p: Tensor) => {
    for (let i = 0; i < steps; i++) {
      torch.tidy(() => {
        p.grad = torch
          .linspace(-1, 1, 6)
          .view(2, 3)
          .mul(i + 1);
      });
      opt.step();
    }
  };
  const mk = () => {
    const p = torch.keep(torch.linspace(0, 1, 6).view(2, 3).requiresGrad_());
    return { p, opt: new AdamW([{ params: [p], names: ['w'] }], { lr: 0.01 }) };
  };
  const b = mk();
  run(2, b.opt, b.p);
  const sd = b.opt.stateDict();
  const c = mk();
  torch.noGrad(() => c.p.copy_(b.p));
  c.opt.loadStateDict(sd);
  assert.equal(c.opt.stepCount, 2);
  run(2, c.opt, c.p);
  // Reference: the same 2 + 2 steps without the round trip.
  const d = mk();
  run(2, d.opt, d.p);
  run(2, d.opt, d.p);
  assert.equal(maxAbsDiff(c.p, d.p), 0);

  const wrong = new AdamW([{ params: [torch.keep(torch.zeros([3, 2]).requiresGrad_())], names: ['w'] }]);
  assert.throws(() => wrong.loadStateDict(sd), /state\.0\.exp_avg \(w\): expected \[3,2\], got \[2,3\]/);
  const renamed = new AdamW([{ params: [torch.keep(torch.zeros([2, 3]).requiresGrad_())], names: ['v'] }]);
  assert.throws(() => renamed.loadStateDict(sd), /param 0 is 'w' in the state, 'v' in the optimizer/);
  torch.dispose([...sd.tensors.values()]);
});

test('invalid hyper-parameters are rejected with the bad value', () => {
  const p = torch.keep(torch.zeros([1]).requiresGrad_());
  assert.throws(() => new AdamW([p], { betas: [0.9, 1.5] }), /invalid betas \[0.9,1.5\]/);
  assert.throws(() => new AdamW([p], { lr: -1 }), /invalid lr -1/);
});
