// torch.autocast (bf16 matmul-class ops, float32 everywhere else) and the forward FLOP counter.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as torch from '../src/torch/index.ts';
import { assertClose } from './helpers/close.ts';

test('linear, conv2d and attention compute in bfloat16 under autocast and hand back float32', () => {
  torch.tidy(() => {
    const g = new torch.Generator(0);
    const x = torch.randn([4, 16], { generator: g });
    const wt = torch.randn([8, 16], { generator: g }).requiresGrad_();
    const b = torch.randn([8], { generator: g });
    const ref = torch.F.linear(x, wt, b);
    const low = torch.autocast('bf16', () => torch.F.linear(x, wt, b));
    assert.equal(low.dtype, 'float32');
    // bf16 keeps 8 bits of mantissa: a dot product of 16 unit normals is off by ~1e-2, not 1e-6
    assertClose(low, ref, { atol: 0.1, rtol: 0.02 });
    assert.ok(low.sub(ref).abs().max().item() > 0, 'autocast changed nothing: the op did not run in bf16');
    const exact = torch.autocast('bf16', () =>
      torch.F.linear(x.to('bfloat16').float(), wt.to('bfloat16').float(), b.to('bfloat16').float()),
    );
    assertClose(low, exact, { atol: 0.05, rtol: 0.01, what: 'the same as computing on bf16-rounded inputs' });
    const img = torch.randn([1, 3, 8, 8], { generator: g });
    const k = torch.randn([4, 3, 3, 3], { generator: g });
    const conv = torch.autocast('bf16', () => torch.F.conv2d(img, k, null, { padding: 1 }));
    assert.equal(conv.dtype, 'float32');
    assertClose(conv, torch.F.conv2d(img, k, null, { padding: 1 }), { atol: 0.1, rtol: 0.02 });
    const q = torch.randn([1, 2, 5, 8], { generator: g });
    const att = torch.autocast('bf16', () => torch.F.scaledDotProductAttention(q, q, q, { isCausal: true }));
    assert.equal(att.dtype, 'float32');
    assertClose(att, torch.F.scaledDotProductAttention(q, q, q, { isCausal: true }), { atol: 0.05, rtol: 0.02 });
  });
});

test('under autocast the gradients, the parameters and the other ops stay float32', () => {
  torch.tidy(() => {
    const g = new torch.Generator(1);
    const wt = torch.randn([3, 5], { generator: g }).requiresGrad_();
    const x = torch.randn([2, 5], { generator: g });
    const loss = torch.autocast('bf16', () => torch.F.layerNorm(torch.F.linear(x, wt), [3]).square().mean());
    assert.equal(loss.dtype, 'float32');
    loss.backward();
    assert.equal(wt.grad!.dtype, 'float32');
    assert.equal(wt.dtype, 'float32');
    assert.equal(torch.autocastDtype(), null, 'the region ends with its function');
  });
});

test('fp32 runs unchanged; a bad precision names the choices; parameter casts are freed with the region', () => {
  torch.tidy(() => {
    const x = torch.randn([2, 4], { generator: new torch.Generator(2) });
    const wt = torch.ones([3, 4]).requiresGrad_();
    assert.deepEqual(torch.autocast('fp32', () => torch.F.linear(x, wt)).toArray(), torch.F.linear(x, wt).toArray());
    assert.throws(() => torch.autocast('fp16' as torch.Precision, () => 0), /precision must be one of fp32, bf16, got 'fp16'/);
    const before = torch.liveTensors();
    torch.noGrad(() =>
      torch.autocast('bf16', () => {
        for (let i = 0; i < 3; i++) torch.F.linear(x, wt).dispose();
      }),
    );
    assert.equal(torch.liveTensors(), before, 'the cached bf16 copy of the weight is freed at the end');
  });
});

test('the FLOP counter adds 2·M·N·K for linear, the conv and attention terms, and nests', () => {
  torch.tidy(() => {
    const outer = torch.startFlopCount();
    const inner = torch.startFlopCount();
    torch.F.linear(torch.zeros([3, 4]), torch.zeros([5, 4])); // 2·3·5·4
    assert.equal(inner.stop(), 120);
    // out [1, 6, 4, 4] = 96 elements, each 2 in-channels (groups 2) × 3 × 3 multiply-adds
    torch.F.conv2d(torch.zeros([1, 4, 4, 4]), torch.zeros([6, 2, 3, 3]), null, { padding: 1, groups: 2 });
    // 2 · (B·H = 2) · (Lq = 5) · (Lk = 7) · (D + Dv = 16)
    const q = torch.zeros([1, 2, 5, 8]);
    const kv = torch.zeros([1, 2, 7, 8]);
    torch.F.scaledDotProductAttention(q, kv, kv);
    assert.equal(outer.stop(), 120 + 2 * 96 * 18 + 2240);
    torch.F.linear(torch.zeros([3, 4]), torch.zeros([5, 4]));
    assert.equal(outer.stop(), 120 + 2 * 96 * 18 + 2240, 'a stopped count no longer grows');
  });
});
