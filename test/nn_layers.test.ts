// Layers against values computed by hand or in closed form; norms and feed-forwards also by
// float64 finite differences.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  Conv2d,
  Dropout,
  DropPath,
  Embedding,
  GELU,
  GroupNorm,
  LayerNorm,
  Linear,
  modulate,
  RMSNorm,
  Sequential,
  SiLU,
  Upsample,
} from '../src/nn/layers.ts';
import { Mlp, SwiGLU, swigluHidden } from '../src/nn/mlp.ts';
import type { Tensor } from '../src/torch/index.ts';
import * as torch from '../src/torch/index.ts';
import { gradcheck } from './support/gradcheck.ts';

function near(got: number[], want: number[], tol: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  got.forEach((g, i) => {
    assert.ok(Math.abs(g - want[i]) <= tol, `${what}[${i}]: ${g} vs ${want[i]}`);
  });
}
const set = (t: Tensor, vals: number[]) => torch.noGrad(() => t.copy_(torch.tensor(vals).view(...t.shape)));

test('Linear: W x + b by hand', () => {
  torch.tidy(() => {
    const l = new Linear(2, 2);
    set(l.weight, [1, 2, 3, 4]);
    set(l.bias as Tensor, [0.5, -1]);
    near(l.forward(torch.tensor([[1, -1]])).toArray(), [1 - 2 + 0.5, 3 - 4 - 1], 0, 'linear');
    assert.equal(new Linear(3, 4, false).bias, null);
  });
});

test('Conv2d: stride, padding and groups by hand', () => {
  torch.tidy(() => {
    const x = torch.arange(0, 16, 1, { dtype: 'float32' }).view(1, 1, 4, 4);
    const c = new Conv2d(1, 1, 3, { padding: 1, bias: false });
    set(c.weight, new Array(9).fill(1));
    // 3x3 box sums with zero padding: the corner (0,0) sums 0+1+4+5.
    const y = c.forward(x);
    assert.deepEqual(y.shape, [1, 1, 4, 4]);
    near(y.toArray().slice(0, 2), [10, 18], 0, 'box sum');
    const s = new Conv2d(1, 1, 2, { stride: 2, bias: false });
    set(s.weight, [1, 0, 0, 0]);
    near(s.forward(x).toArray(), [0, 2, 8, 10], 0, 'stride 2 picks the top-left of each 2x2');
    // Depthwise (groups = channels): channel k is scaled by k+1 only.
    const d = new Conv2d(2, 2, 1, { groups: 2 });
    assert.deepEqual(d.weight.shape, [2, 1, 1, 1]);
    set(d.weight, [1, 2]);
    set(d.bias as Tensor, [0, 1]);
    const x2 = torch.ones([1, 2, 1, 1]);
    near(d.forward(x2).toArray(), [1, 3], 0, 'depthwise');
    assert.throws(() => new Conv2d(3, 4, 1, { groups: 2 }), /channels 3->4 not divisible by groups 2/);
  });
});

test('Upsample ×2 repeats each pixel in a 2x2 block', () => {
  torch.tidy(() => {
    const y = new Upsample(2).forward(
      torch.tensor([
        [
          [
            [1, 2],
            [3, 4],
          ],
        ],
      ]),
    );
    assert.deepEqual(y.toArray(), [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
    assert.throws(() => new Upsample(1.5), /positive integer, got 1.5/);
  });
});

test('Embedding looks up rows', () => {
  torch.tidy(() => {
    const e = new Embedding(3, 2);
    set(e.weight, [0, 1, 10, 11, 20, 21]);
    assert.deepEqual(e.forward(torch.tensor([2, 0], { dtype: 'int64' })).toArray(), [20, 21, 0, 1]);
  });
});

test('LayerNorm, GroupNorm and RMSNorm in closed form', () => {
  torch.tidy(() => {
    // x = [1, 2, 3]: mean 2, biased variance 2/3.
    const x = torch.tensor([[1, 2, 3]]);
    const r = 1 / Math.sqrt(2 / 3 + 1e-5);
    near(new LayerNorm(3).forward(x).toArray(), [-r, 0, r], 1e-6, 'layernorm');
    const noAffine = new LayerNorm(3, 1e-6, false);
    assert.equal(noAffine.stateDict().size, 0);
    const ln = new LayerNorm(3);
    set(ln.weight as Tensor, [2, 2, 2]);
    set(ln.bias as Tensor, [1, 1, 1]);
    near(ln.forward(x).toArray(), [1 - 2 * r, 1, 1 + 2 * r], 1e-6, 'affine layernorm');
    // GroupNorm, 2 groups of 2 channels, 1x1 spatial: each group [a, b] -> ±1 (up to eps).
    const gx = torch.tensor([1, 3, 10, 20]).view(1, 4, 1, 1);
    const gn = new GroupNorm(2, 4, 0);
    near(gn.forward(gx).toArray(), [-1, 1, -1, 1], 1e-6, 'groupnorm');
    assert.throws(() => new GroupNorm(3, 4), /4 channels not divisible by 3 groups/);
    // RMSNorm: [3, 4] has mean square 12.5.
    const rm = new RMSNorm(2, 0);
    set(rm.weight, [1, 2]);
    const s = 1 / Math.sqrt(12.5);
    near(rm.forward(torch.tensor([[3, 4]])).toArray(), [3 * s, 8 * s], 1e-6, 'rmsnorm');
  });
});

test('GELU (exact and tanh) and SiLU at known points', () => {
  torch.tidy(() => {
    const x = torch.tensor([-1, 0, 1], { dtype: 'float64' });
    // Φ(1) = 0.8413447460685429; tanh form: 0.5(1 + tanh(√(2/π)(1 + 0.044715))).
    near(new GELU().forward(x).toArray(), [-(1 - 0.8413447460685429), 0, 0.8413447460685429], 1e-12, 'gelu');
    const t = 0.5 * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * 1.044715));
    near(new GELU('tanh').forward(x).toArray(), [-(1 - t), 0, t], 1e-12, 'gelu tanh');
    const sg = 1 / (1 + Math.exp(-1));
    near(new SiLU().forward(x).toArray(), [-(1 - sg), 0, sg], 1e-12, 'silu');
  });
});

test('Dropout: identity in eval, {0, x/(1-p)} in training, reproducible with a generator', () => {
  torch.tidy(() => {
    const x = torch.ones([2000]);
    const d = new Dropout(0.25, new torch.Generator(3));
    const y = d.forward(x).toArray();
    assert.ok(y.every((v) => v === 0 || Math.abs(v - 4 / 3) < 1e-6));
    const dropped = y.filter((v) => v === 0).length / y.length;
    assert.ok(Math.abs(dropped - 0.25) < 0.04, `drop rate ${dropped}`);
    const again = new Dropout(0.25, new torch.Generator(3)).forward(x).toArray();
    assert.deepEqual(again, y);
    d.eval();
    assert.deepEqual(d.forward(x).toArray(), x.toArray());
    assert.throws(() => new Dropout(1), /must be in \[0, 1\), got 1/);
  });
});

test('DropPath zeroes whole samples and rescales the rest', () => {
  torch.tidy(() => {
    const x = torch.ones([400, 3, 2]);
    const y = new DropPath(0.5, new torch.Generator(1)).forward(x).view(400, 6).toArray();
    let kept = 0;
    for (let i = 0; i < 400; i++) {
      const row = y.slice(i * 6, i * 6 + 6);
      assert.ok(row.every((v) => v === row[0]) && (row[0] === 0 || row[0] === 2), `sample ${i}: ${row}`);
      if (row[0] === 2) kept++;
    }
    assert.ok(Math.abs(kept / 400 - 0.5) < 0.1, `kept ${kept}`);
    const p = new DropPath(0.5);
    p.eval();
    assert.equal(p.forward(x), x);
  });
});

test('modulate(x, shift, scale) = x (1 + scale) + shift, broadcast over tokens', () => {
  torch.tidy(() => {
    const x = torch.tensor([
      [
        [1, 2],
        [3, 4],
      ],
    ]); // [1, 2, 2]
    const shift = torch.tensor([[10, 20]]);
    const scale = torch.tensor([[1, -1]]);
    assert.deepEqual(modulate(x, shift, scale).toArray(), [12, 20, 16, 20]);
    assert.deepEqual(modulate(torch.tensor([[1, 2]]), shift, scale).toArray(), [12, 20]);
  });
});

test('Mlp and SwiGLU by hand; Sequential names children 0, 1', () => {
  torch.tidy(() => {
    const m = new Mlp(1, 2, { gelu: 'none' });
    set(m.fc1.weight, [1, -1]);
    set(m.fc1.bias as Tensor, [0, 0]);
    set(m.fc2.weight, [1, 1]);
    set(m.fc2.bias as Tensor, [0.5]);
    // x = 1: gelu(1) + gelu(-1) + 0.5 = Φ(1) − (1 − Φ(1)) + 0.5
    near(m.forward(torch.tensor([[1]])).toArray(), [2 * 0.8413447460685429 - 1 + 0.5], 1e-6, 'mlp');
    assert.deepEqual([...m.stateDict().keys()], ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']);
    const s = new SwiGLU(1, 1);
    set(s.w1.weight, [2]);
    set(s.w3.weight, [3]);
    set(s.w2.weight, [0.5]);
    const silu2 = 2 / (1 + Math.exp(-2));
    near(s.forward(torch.tensor([[1]])).toArray(), [0.5 * silu2 * 3], 1e-6, 'swiglu');
    assert.deepEqual([...s.stateDict().keys()], ['w1.weight', 'w3.weight', 'w2.weight']);
    assert.equal(swigluHidden(64, 256), 256); // LlamaGen tiny: int(2·256/3)=170 -> 256
    assert.equal(swigluHidden(768, 256), 2048); // GPT-B
    const seq = new Sequential([new SiLU(), new Linear(2, 3)]);
    assert.deepEqual([...seq.stateDict().keys()], ['1.weight', '1.bias']);
    assert.deepEqual(seq.forward(torch.zeros([1, 2])).toArray(), (seq.at(1) as Linear).bias?.toArray());
  });
});

test('gradients of LayerNorm, GroupNorm, RMSNorm, Mlp and SwiGLU match finite differences (float64)', () => {
  torch.tidy(() => {
    const g = new torch.Generator(11);
    const x = torch.randn([2, 3, 8], { dtype: 'float64', generator: g }).requiresGrad_();
    const perturb = (m: { namedParameters(): [string, Tensor][] }) =>
      torch.noGrad(() => {
        for (const [, p] of m.namedParameters()) p.add_(torch.randn(p.shape, { dtype: 'float64', generator: g }).mul(0.3));
      });
    const ln = new LayerNorm(8).to('float64');
    perturb(ln);
    gradcheck(() => ln.forward(x), [['x', x], ...ln.namedParameters()]);
    const rms = new RMSNorm(8, 1e-6).to('float64');
    perturb(rms);
    gradcheck(() => rms.forward(x), [['x', x], ...rms.namedParameters()]);
    const gx = torch.randn([2, 4, 3, 3], { dtype: 'float64', generator: g }).requiresGrad_();
    const gn = new GroupNorm(2, 4).to('float64');
    perturb(gn);
    gradcheck(() => gn.forward(gx), [['x', gx], ...gn.namedParameters()]);
    const mlp = new Mlp(8, 16, { gelu: 'tanh', generator: g }).to('float64');
    gradcheck(() => mlp.forward(x), [['x', x], ...mlp.namedParameters()]);
    const sw = new SwiGLU(8, 12, { generator: g }).to('float64');
    gradcheck(() => sw.forward(x), [['x', x], ...sw.namedParameters()]);
  });
});

test('gradcheck itself catches a wrong gradient', () => {
  torch.tidy(() => {
    const x = torch.randn([4], { dtype: 'float64' }).requiresGrad_();
    // x·detach(x): autograd sees d/dx = x, the true derivative is 2x.
    assert.throws(() => gradcheck(() => x.mul(x.detach()), [['x', x]]), /gradcheck: x\[\d\] numeric/);
  });
});
