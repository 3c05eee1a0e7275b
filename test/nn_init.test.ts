// Initialisers: seeded reproducibility, moments and bounds in closed form.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { constant_, fans, normal_, ones_, truncNormal_, uniform_, xavierUniform_, zeros_ } from '../src/nn/init.ts';
import { Linear } from '../src/nn/layers.ts';
import * as torch from '../src/torch/index.ts';

const N = 20000;
const stats = (a: number[]) => {
  const m = a.reduce((s, v) => s + v, 0) / a.length;
  const v = a.reduce((s, x) => s + (x - m) ** 2, 0) / a.length;
  return { mean: m, std: Math.sqrt(v), min: Math.min(...a), max: Math.max(...a) };
};

test('normal_: the same seed gives the same values; mean and std as asked', () => {
  torch.tidy(() => {
    const a = normal_(torch.empty([N]), 1, 2, new torch.Generator(5)).toArray();
    const b = normal_(torch.empty([N]), 1, 2, new torch.Generator(5)).toArray();
    assert.deepEqual(a, b);
    const c = normal_(torch.empty([N]), 1, 2, new torch.Generator(6)).toArray();
    assert.notDeepEqual(a, c);
    const s = stats(a);
    // Standard errors: 2/√N ≈ 0.014 for the mean.
    assert.ok(Math.abs(s.mean - 1) < 0.06 && Math.abs(s.std - 2) < 0.06, JSON.stringify(s));
  });
});

test('truncNormal_: within bounds, with the truncated normal’s standard deviation', () => {
  torch.tidy(() => {
    const a = truncNormal_(torch.empty([N]), 0, 1, -1, 1, new torch.Generator(1)).toArray();
    const s = stats(a);
    assert.ok(s.min >= -1 && s.max <= 1, JSON.stringify(s));
    // Var of N(0,1) truncated to [-1, 1] = 1 − 2φ(1)/(2Φ(1) − 1) = 0.29112 (std 0.53956).
    const phi1 = Math.exp(-0.5) / Math.sqrt(2 * Math.PI);
    const std = Math.sqrt(1 - (2 * phi1) / (2 * 0.8413447460685429 - 1));
    assert.ok(Math.abs(s.std - std) < 0.01 && Math.abs(s.mean) < 0.02, `${JSON.stringify(s)} vs std ${std}`);
    // timm/MAE init: std 0.02 with bounds ±2 (|x| ≤ 2 is 100σ, so effectively untruncated).
    const w = stats(truncNormal_(torch.empty([N]), 0, 0.02, -2, 2, new torch.Generator(2)).toArray());
    assert.ok(Math.abs(w.std - 0.02) < 0.001, JSON.stringify(w));
  });
});

test('xavierUniform_ bound √(6/(fan_in+fan_out)); uniform_ range; fans of a conv weight', () => {
  torch.tidy(() => {
    assert.deepEqual(fans([8, 4, 3, 3]), [36, 72]);
    assert.throws(() => fans([5]), /at least 2 dims/);
    const t = xavierUniform_(torch.empty([100, 200]), 1, new torch.Generator(3));
    const bound = Math.sqrt(6 / 300);
    const s = stats(t.toArray());
    assert.ok(s.max <= bound && s.min >= -bound && s.max > 0.95 * bound, JSON.stringify(s));
    assert.ok(Math.abs(s.std - bound / Math.sqrt(3)) < 0.002);
    const u = stats(uniform_(torch.empty([N]), 2, 3, new torch.Generator(4)).toArray());
    assert.ok(u.min >= 2 && u.max < 3 && Math.abs(u.mean - 2.5) < 0.01);
  });
});

test('zeros_, ones_, constant_ and seeded default Linear init', () => {
  torch.tidy(() => {
    const t = torch.empty([3]);
    assert.deepEqual(zeros_(t).toArray(), [0, 0, 0]);
    assert.deepEqual(ones_(t).toArray(), [1, 1, 1]);
    assert.deepEqual(constant_(t, 0.5).toArray(), [0.5, 0.5, 0.5]);
    const a = new Linear(16, 4, true, { generator: new torch.Generator(9) });
    const b = new Linear(16, 4, true, { generator: new torch.Generator(9) });
    assert.deepEqual(a.weight.toArray(), b.weight.toArray());
    // Default init U(±1/√fan_in) = U(±0.25).
    assert.ok(a.weight.toArray().every((v) => Math.abs(v) <= 0.25));
  });
});

test('the same seed gives the same values as torch.nn.init in torch 2.13 (values recorded from PyTorch)', () => {
  torch.tidy(() => {
    const g = () => new torch.Generator(1);
    // torch.nn.init.trunc_normal_(torch.empty(6), mean, std, a, b, generator=Generator().manual_seed(1))
    const cases: [number, number, number, number, number[]][] = [
      [
        0,
        1,
        -1,
        1,
        [
          0.6613521575927734, 0.266924113035202, 0.06167725846171379, 0.6213173270225525, -0.4519059658050537,
          -0.16613022983074188,
        ],
      ],
      [
        0,
        1,
        1,
        3,
        [1.3535802364349365, 1.4208643436431885, 1.038611888885498, 1.9099726676940918, 1.0585631132125854, 1.3364189863204956],
      ],
      [
        0.5,
        0.02,
        -2,
        2,
        [0.5132270455360413, 0.5053384900093079, 0.5012335181236267, 0.5124263763427734, 0.49096187949180603, 0.4966773986816406],
      ],
    ];
    for (const [m, s, a, b, want] of cases) {
      assert.deepEqual(truncNormal_(torch.empty([6]), m, s, a, b, g()).toArray(), want, `trunc_normal_(${m}, ${s}, ${a}, ${b})`);
    }
    assert.deepEqual(
      normal_(torch.empty([4]), 0, 0.02, g()).toArray(),
      [0.01322704367339611, 0.005338482093065977, 0.0012335451319813728, 0.01242634654045105],
    );
    assert.deepEqual(
      xavierUniform_(torch.empty([2, 2]), 1, g()).toArray(),
      [0.6310659646987915, -0.5405757427215576, -0.2374308705329895, 0.574857234954834],
    );
    assert.throws(() => truncNormal_(torch.empty([2]), 0, 1, 1, -1), /need std > 0 and a < b/);
  });
});
