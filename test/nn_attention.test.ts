// Attention, CrossAttention and KVCache against attention written out by hand
// (softmax(q kᵀ/√d) v), plus float64 finite-difference gradient checks.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Attention, CrossAttention, causalMask, KVCache, keyPaddingMask } from '../src/nn/attention.ts';
import type { Tensor } from '../src/torch/index.ts';
import * as torch from '../src/torch/index.ts';
import { gradcheck } from './support/gradcheck.ts';

const B = 2;
const L = 5;
const D = 16;
const H = 4;
const HD = D / H;

function close(a: Tensor, b: Tensor, tol: number, what: string): void {
  const d = torch.tidy(() => a.sub(b).abs().max().item());
  assert.ok(d <= tol, `${what}: max |diff| ${d} > ${tol}`);
}

/** Hand-written multi-head attention on [B, H, Lq, hd] / [B, H, Lk, hd] with an optional bool mask. */
function naive(q: Tensor, k: Tensor, v: Tensor, allow?: Tensor): Tensor {
  let s = q.matmul(k.transpose(-2, -1)).div(Math.sqrt(q.shape[3]));
  if (allow) s = s.maskedFill(allow.logicalNot(), Number.NEGATIVE_INFINITY);
  return s.softmax(-1).matmul(v);
}

/** [B, L, D] -> [B, H, L, hd] by explicit slicing of the feature axis. */
const heads = (x: Tensor) => x.reshape(B, x.shape[1], H, HD).permute(0, 2, 1, 3);
const merge = (x: Tensor) => x.permute(0, 2, 1, 3).reshape(B, x.shape[2], D);

function naiveSelf(a: Attention, x: Tensor, allow?: Tensor): Tensor {
  const w = a.qkv.weight;
  const b = a.qkv.bias as Tensor;
  const part = (i: number) => heads(torch.F.linear(x, w.narrow(0, i * D, D), b.narrow(0, i * D, D)));
  const o = naive(part(0), part(1), part(2), allow);
  return a.proj.forward(merge(o));
}

test('Attention (bidirectional, causal, masked) equals hand-written attention', () => {
  torch.tidy(() => {
    const g = new torch.Generator(1);
    const a = new Attention(D, H, { qkvBias: true, generator: g });
    assert.deepEqual([...a.stateDict().keys()], ['qkv.weight', 'qkv.bias', 'proj.weight', 'proj.bias']);
    const x = torch.randn([B, L, D], { generator: g });
    close(a.forward(x), naiveSelf(a, x), 1e-5, 'bidirectional');
    const tril = causalMask(L, L);
    assert.deepEqual(tril.view(L, L).toArray().slice(0, 10), [1, 0, 0, 0, 0, 1, 1, 0, 0, 0]);
    close(a.forward(x, { causal: true }), naiveSelf(a, x, tril), 1e-5, 'causal');
    // Key padding: sample 0 sees all 5 keys, sample 1 only the first 3.
    const valid = torch
      .tensor([
        [1, 1, 1, 1, 1],
        [1, 1, 1, 0, 0],
      ])
      .to('bool');
    const pad = keyPaddingMask(valid);
    close(a.forward(x, { mask: pad }), naiveSelf(a, x, pad), 1e-5, 'key padding');
    close(a.forward(x, { mask: pad, causal: true }), naiveSelf(a, x, pad.logicalAnd(tril)), 1e-5, 'padding + causal');
    // Additive float mask = the same bool mask.
    const additive = torch.zeros([B, 1, 1, L]).maskedFill(pad.logicalNot(), Number.NEGATIVE_INFINITY);
    close(a.forward(x, { mask: additive, causal: true }), naiveSelf(a, x, pad.logicalAnd(tril)), 1e-5, 'additive mask');
  });
});

test('causal attention: earlier outputs ignore later tokens', () => {
  torch.tidy(() => {
    const g = new torch.Generator(2);
    const a = new Attention(D, H, { generator: g });
    const x = torch.randn([1, L, D], { generator: g });
    const y = torch.cat([x.narrow(1, 0, 3), torch.randn([1, 2, D], { generator: g })], 1);
    close(a.forward(x, { causal: true }).narrow(1, 0, 3), a.forward(y, { causal: true }).narrow(1, 0, 3), 1e-6, 'prefix');
  });
});

test('KVCache: token-by-token and chunked decoding equal the full causal pass', () => {
  torch.noGrad(() =>
    torch.tidy(() => {
      const g = new torch.Generator(3);
      const a = new Attention(D, H, { qkvBias: true, generator: g });
      const x = torch.randn([B, L, D], { generator: g });
      const full = a.forward(x, { causal: true });
      const cache = new KVCache(B, H, 8, HD);
      const steps = [];
      for (let i = 0; i < L; i++) steps.push(a.forward(x.narrow(1, i, 1), { causal: true, cache }));
      close(torch.cat(steps, 1), full, 1e-5, 'one at a time');
      assert.equal(cache.length, L);
      cache.reset();
      const p1 = a.forward(x.narrow(1, 0, 2), { causal: true, cache });
      const p2 = a.forward(x.narrow(1, 2, 3), { causal: true, cache });
      close(torch.cat([p1, p2], 1), full, 1e-5, 'chunks of 2 then 3');
      assert.throws(() => a.forward(x, { causal: true, cache }), /appending 5 positions after 5 exceeds maxLen 8/);
      assert.throws(() => cache.append(torch.zeros([B, H, 1, 3]), torch.zeros([B, H, 1, 3])), /k has shape \[2,4,1,3\]/);
      // LlamaGen-style update at explicit positions.
      const c2 = new KVCache(1, 1, 4, 2);
      const [k] = c2.update(torch.tensor([2], { dtype: 'int64' }), torch.ones([1, 1, 1, 2]), torch.ones([1, 1, 1, 2]));
      assert.deepEqual(k.toArray(), [0, 0, 0, 0, 1, 1, 0, 0]);
      assert.deepEqual([...c2.stateDict().keys()], ['k_cache', 'v_cache']);
      torch.dispose([cache.kCache, cache.vCache, c2.kCache, c2.vCache]);
    }),
  );
});

test('CrossAttention equals hand-written cross-attention; projected context can be reused', () => {
  torch.tidy(() => {
    const g = new torch.Generator(4);
    const C = 8;
    const ca = new CrossAttention(D, C, H, { qkvBias: true, generator: g });
    assert.deepEqual([...ca.stateDict().keys()], ['q.weight', 'q.bias', 'kv.weight', 'kv.bias', 'proj.weight', 'proj.bias']);
    const x = torch.randn([B, L, D], { generator: g });
    const ctx = torch.randn([B, 3, C], { generator: g });
    const kvw = ca.kv.weight;
    const kvb = ca.kv.bias as Tensor;
    const q = heads(ca.q.forward(x));
    const k = heads(torch.F.linear(ctx, kvw.narrow(0, 0, D), kvb.narrow(0, 0, D)));
    const v = heads(torch.F.linear(ctx, kvw.narrow(0, D, D), kvb.narrow(0, D, D)));
    const want = ca.proj.forward(merge(naive(q, k, v)));
    close(ca.forward(x, ctx), want, 1e-5, 'cross');
    close(ca.forward(x, ca.projectKV(ctx)), want, 1e-6, 'reused kv');
    const valid = torch
      .tensor([
        [1, 1, 1],
        [1, 0, 0],
      ])
      .to('bool');
    const m = keyPaddingMask(valid);
    close(ca.forward(x, ctx, { mask: m }), ca.proj.forward(merge(naive(q, k, v, m))), 1e-5, 'masked cross');
    assert.throws(() => ca.forward(x, torch.zeros([B, 3, 5])), /context \[2,3,5\] has width 5, expected 8/);
  });
});

test('constructor and input errors name the bad value', () => {
  assert.throws(() => new Attention(10, 3), /dim 10 is not divisible by heads 3/);
  const a = new Attention(D, H);
  assert.throws(() => a.forward(torch.zeros([1, 2, 8])), /input \[1,2,8\] has width 8, expected 16/);
});

test('gradients of Attention and CrossAttention match finite differences (float64)', () => {
  torch.tidy(() => {
    const g = new torch.Generator(5);
    const a = new Attention(8, 2, { qkvBias: true, generator: g }).to('float64');
    const x = torch.randn([2, 4, 8], { dtype: 'float64', generator: g }).requiresGrad_();
    const ins = (m: { namedParameters(): [string, Tensor][] }): [string, Tensor][] => [['x', x], ...m.namedParameters()];
    gradcheck(() => a.forward(x), ins(a));
    gradcheck(() => a.forward(x, { causal: true }), ins(a));
    const ca = new CrossAttention(8, 6, 2, { qkvBias: true, generator: g }).to('float64');
    const ctx = torch.randn([2, 3, 6], { dtype: 'float64', generator: g }).requiresGrad_();
    gradcheck(() => ca.forward(x, ctx), [['ctx', ctx], ...ins(ca)]);
  });
});

test('dropout inside attention is active in training only', () => {
  torch.tidy(() => {
    const a = new Attention(D, H, { attnDrop: 0.5, projDrop: 0.5, generator: new torch.Generator(6) });
    const x = torch.randn([B, L, D], { generator: new torch.Generator(7) });
    torch.manualSeed(0);
    const t1 = a.forward(x);
    const t2 = a.forward(x);
    assert.ok(t1.sub(t2).abs().max().item() > 0, 'two training passes differ');
    a.eval();
    close(a.forward(x), a.forward(x), 0, 'eval is deterministic');
  });
});

test('a long loop of attention steps keeps the live-tensor count flat', () => {
  const a = new Attention(D, H);
  const x = torch.keep(torch.randn([B, L, D]));
  const step = () =>
    torch.tidy(() => {
      const y = a.forward(x, { causal: true }).sum();
      y.backward();
    });
  step();
  a.zeroGrad();
  const before = torch.liveTensors();
  for (let i = 0; i < 20; i++) {
    step();
    a.zeroGrad();
  }
  assert.equal(torch.liveTensors(), before);
});
