// EMA of parameters (closed form, swap-in/out) and MAR's learning-rate schedule.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Linear } from '../src/nn/layers.ts';
import { AdamW, clipGradNorm_, EMA, lrAt } from '../src/optim/index.ts';
import * as torch from '../src/torch/index.ts';

test('EMA after n updates with constant params: e_n = p + d^n (e_0 − p)', () => {
  const m = new Linear(2, 1);
  torch.noGrad(() => {
    m.weight.copy_(torch.tensor([[1, 2]]));
    (m.bias as torch.Tensor).copy_(torch.tensor([0]));
  });
  const ema = new EMA(m, 0.9);
  torch.noGrad(() => {
    m.weight.copy_(torch.tensor([[3, 2]]));
    (m.bias as torch.Tensor).copy_(torch.tensor([1]));
  });
  for (let i = 0; i < 3; i++) ema.update();
  const d3 = 0.9 ** 3;
  const w = (ema.shadow.get('weight') as torch.Tensor).toArray();
  assert.ok(Math.abs(w[0] - (3 + d3 * (1 - 3))) < 1e-6 && w[1] === 2, `${w}`);
  assert.ok(Math.abs((ema.shadow.get('bias') as torch.Tensor).toArray()[0] - (1 - d3)) < 1e-6);
  // update(decay) overrides the rate: decay 0 copies the parameters.
  ema.update(0);
  assert.deepEqual((ema.shadow.get('weight') as torch.Tensor).toArray(), [3, 2]);
  ema.dispose();
});

test('EMA follows a training run and matches a step-by-step recomputation', () => {
  const m = new Linear(3, 2, true, { generator: new torch.Generator(1) });
  const ema = new EMA(m, 0.99);
  const ref = m.parameters().map((p) => torch.keep(p.detach().clone().to('float64')));
  const opt = new AdamW(m.parameters(), { lr: 0.05 });
  const x = torch.keep(torch.randn([4, 3], { generator: new torch.Generator(2) }));
  for (let i = 0; i < 5; i++) {
    torch.tidy(() => m.forward(x).square().sum().backward());
    opt.step();
    opt.zeroGrad();
    ema.update();
    torch.noGrad(() => {
      m.parameters().forEach((p, k) => {
        ref[k].mul_(0.99).add_(p.to('float64'), 0.01);
      });
    });
  }
  const shadow = [...ema.shadow.values()];
  ref.forEach((r, k) => {
    const d = torch.tidy(() => shadow[k].to('float64').sub(r).abs().max().item());
    assert.ok(d < 1e-6, `param ${k}: ${d}`);
  });
});

test('EMA swapIn/swapOut exchanges weights; withEma restores even on error; state dict checks names', () => {
  const m = new Linear(2, 2, false);
  torch.noGrad(() => m.weight.fill_(1));
  const ema = new EMA(m, 0.5);
  torch.noGrad(() => m.weight.fill_(3));
  ema.update(); // ema = 2
  ema.swapIn();
  assert.deepEqual(m.weight.toArray(), [2, 2, 2, 2]);
  assert.throws(() => ema.update(), /swapped in/);
  assert.throws(() => ema.swapIn(), /already swapped in/);
  ema.swapOut();
  assert.deepEqual(m.weight.toArray(), [3, 3, 3, 3]);
  assert.throws(() =>
    ema.withEma(() => {
      assert.deepEqual(m.weight.toArray(), [2, 2, 2, 2]);
      throw new Error('boom');
    }),
  );
  assert.deepEqual(m.weight.toArray(), [3, 3, 3, 3]);
  assert.equal(ema.isSwappedIn, false);
  const bad = new Map([['weight', torch.keep(torch.zeros([2, 3]))]]);
  assert.throws(() => ema.loadStateDict(bad), /shape mismatch weight: expected \[2,2\], got \[2,3\]/);
  const renamed = new Map([['w', torch.keep(torch.zeros([2, 2]))]]);
  assert.throws(() => ema.loadStateDict(renamed), /missing key weight[\s\S]*unexpected key w/);
});

test('lrAt: linear warm-up, then constant or half-cosine to minLr (MAR adjust_learning_rate)', () => {
  const s = { baseLr: 1e-3, warmup: 10, total: 110, kind: 'cosine' as const, minLr: 1e-5 };
  assert.equal(lrAt(0, s), 0);
  assert.equal(lrAt(5, s), 5e-4);
  assert.equal(lrAt(10, s), 1e-3);
  assert.ok(Math.abs(lrAt(60, s) - (1e-5 + (1e-3 - 1e-5) * 0.5)) < 1e-15);
  assert.ok(Math.abs(lrAt(110, s) - 1e-5) < 1e-15);
  assert.equal(lrAt(500, { ...s, kind: 'constant' }), 1e-3);
  assert.throws(() => lrAt(20, { ...s, total: 5 }), /total 5 must exceed warmup 10/);
  const p = torch.keep(torch.zeros([1]).requiresGrad_());
  const opt = new AdamW([{ params: [p], lrScale: 0.5 }]);
  opt.setLr(lrAt(5, s));
  assert.equal(opt.groups[0].lr, 2.5e-4);
});

test('a loop of step + clip + AdamW + EMA keeps the live-tensor count flat', () => {
  const m = new Linear(8, 8, true, { generator: new torch.Generator(3) });
  const opt = new AdamW(m.parameters(), { lr: 1e-3 });
  const ema = new EMA(m, 0.999);
  const x = torch.keep(torch.randn([4, 8], { generator: new torch.Generator(4) }));
  const step = () => {
    torch.tidy(() => m.forward(x).square().mean().backward());
    clipGradNorm_(m.parameters(), 1);
    opt.setLr(lrAt(1, { baseLr: 1e-3, warmup: 0, total: 10, kind: 'cosine' }));
    opt.step();
    opt.zeroGrad();
    ema.update();
  };
  step();
  const before = torch.liveTensors();
  for (let i = 0; i < 50; i++) step();
  assert.equal(torch.liveTensors(), before);
});
