// The tokenizer recipe's new terms: the perceptual loss (its value on a fixed input, its gradient,
// the classifier's feature maps it reads), the VQ's entropy loss (its gradient; its value against
// LlamaGen is in tokenizers_units.test.ts) and the warm-up + cosine LR schedule of tokenizer training.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLASSIFIER_PRESETS, FmnistClassifier } from '../src/eval/fmnist_classifier.ts';
import { perceptualLoss } from '../src/tokenizers/losses.ts';
import { buildTokenizer } from '../src/tokenizers/presets.ts';
import { entropyLoss } from '../src/tokenizers/quantizer.ts';
import { createTokenizerTrainState, KL_TRAIN_DEFAULTS, tokenizerLr, tokenizerTrainStep } from '../src/tokenizers/train_step.ts';
import * as torch from '../src/torch/index.ts';
import { gradcheck } from './helpers/gradcheck.ts';

test('perceptualLoss: the sum over layers of the mean squared distance of channel-normalised features', () => {
  torch.tidy(() => {
    // A two-layer "network" with known maps: the identity and its square.
    const net = (x: torch.Tensor) => [x, x.square().sum([2, 3])];
    const x = torch.tensor([1, 0, 0, 1, 0, 0, 0, 0], { dtype: 'float32' }).view(1, 2, 2, 2);
    const y = torch.tensor([0, 0, 0, 1, 1, 0, 0, 0], { dtype: 'float32' }).view(1, 2, 2, 2);
    // Layer 1, per position (channel vectors x → y): (1,0)→(0,1): 2; (0,0)→(0,0): 0 twice;
    // (1,0)→(1,0): 0 → mean 1/2. Layer 2: channel sums (2,0) vs (1,1), unit vectors (1,0) vs
    // (1/√2, 1/√2): (1 − 1/√2)² + 1/2 = 2 − √2.
    const want = 1 / 2 + (2 - Math.SQRT2);
    assert.ok(Math.abs(perceptualLoss(x, y, net).item() - want) < 1e-5);
    assert.ok(perceptualLoss(x, x, net).item() < 1e-10, 'zero for identical images');
    assert.throws(() => perceptualLoss(x, y, () => []), /no feature maps/);
  });
});

test('perceptualLoss on the classifier: gradient to the reconstruction only, matching finite differences', () => {
  torch.manualSeed(0);
  const clf = new FmnistClassifier(CLASSIFIER_PRESETS.tiny).eval().to('float64');
  for (const p of clf.parameters()) p.requiresGrad = false;
  torch.tidy(() => {
    const g = new torch.Generator(3);
    const x = torch.rand([2, 1, 32, 32], { generator: g, dtype: 'float64' }).mul(2).sub(1);
    const r = torch.rand([2, 1, 32, 32], { generator: g, dtype: 'float64' }).mul(2).sub(1).requiresGrad_();
    const maps = clf.featureMaps(x);
    assert.deepEqual(
      maps.map((m) => m.shape),
      [
        [2, 4, 16, 16],
        [2, 8, 8, 8],
        [2, 16],
      ],
    );
    const loss = perceptualLoss(x, r, (t) => clf.featureMaps(t));
    loss.backward();
    const grad = r.grad as torch.Tensor;
    assert.ok(grad.abs().sum().item() > 0);
    // Directional derivative along a random direction against a central difference in float64; the
    // step is small because max-pooling makes the loss only piecewise smooth.
    const d = torch.randn([2, 1, 32, 32], { generator: g, dtype: 'float64' });
    const eps = 1e-6;
    const f = (s: number) => torch.noGrad(() => perceptualLoss(x, r.detach().add(d.mul(s)), (t) => clf.featureMaps(t)).item());
    const numeric = (f(eps) - f(-eps)) / (2 * eps);
    const analytic = grad.mul(d).sum().item();
    assert.ok(Math.abs(numeric - analytic) <= 1e-4 * Math.abs(analytic), `${numeric} vs ${analytic}`);
  });
});

test('tokenizer LR: linear warm-up then half-cosine to minLr over the run; constant without a schedule', () => {
  const base = { lr: 1e-3, schedule: 'cosine' as const, warmup: 100, minLr: 1e-5 };
  const at = (step: number) => tokenizerLr({ opts: { ...KL_TRAIN_DEFAULTS, ...base }, step, totalSteps: 1100 });
  assert.equal(at(0), 0);
  assert.ok(Math.abs(at(50) - 5e-4) < 1e-12);
  assert.ok(Math.abs(at(100) - 1e-3) < 1e-12);
  assert.ok(Math.abs(at(600) - (1e-5 + (1e-3 - 1e-5) / 2)) < 1e-12);
  assert.ok(Math.abs(at(1100) - 1e-5) < 1e-12);
  const constant = tokenizerLr({ opts: { ...KL_TRAIN_DEFAULTS, lr: 2e-4 }, step: 5000, totalSteps: 0 });
  assert.equal(constant, 2e-4);
});

test('a KL step with the perceptual loss and the schedule sets the LR and logs the weighted term', () => {
  torch.manualSeed(0);
  const model = buildTokenizer('kl', 'kl_fmnist');
  const clf = new FmnistClassifier(CLASSIFIER_PRESETS.tiny).eval();
  for (const p of clf.parameters()) p.requiresGrad = false;
  const opts = { ...KL_TRAIN_DEFAULTS, gan: null, lr: 1e-3, perceptualWeight: 0.5, schedule: 'cosine' as const, warmup: 2 };
  assert.throws(
    () => createTokenizerTrainState(model, opts, new torch.Generator(0)),
    /needs a feature network|needs the run's total steps/,
  );
  const s = createTokenizerTrainState(model, opts, new torch.Generator(0), {
    perceptual: (t) => clf.featureMaps(t),
    totalSteps: 10,
  });
  const x = torch
    .rand([2, 1, 32, 32], { generator: new torch.Generator(1) })
    .mul(2)
    .sub(1);
  const m0 = tokenizerTrainStep(s, x);
  assert.equal(m0.lr, 0, 'the first warm-up step has LR 0');
  const m1 = tokenizerTrainStep(s, x);
  assert.ok(Math.abs((m1.lr ?? 0) - 5e-4) < 1e-12);
  assert.ok((m1.perceptual ?? 0) > 0);
  assert.ok(m1.loss > m1.rec + (m1.perceptual ?? 0) - 1e-6, 'the loss includes the perceptual term');
  x.dispose();
});

test('entropyLoss: gradient matches finite differences; it spreads a collapsed assignment', () => {
  torch.tidy(() => {
    // Affinities on the scale of −‖z − e‖² for l2-normalised vectors (so /0.01 is a sharp softmax).
    const a = torch.randn([6, 5], { generator: new torch.Generator(3), dtype: 'float64' }).mul(0.02);
    gradcheck((x) => entropyLoss(x), [a], { what: 'entropyLoss', eps: 1e-7 });
    // Every row preferring code 0: descending the loss lowers the batch's share of code 0.
    const collapsed = torch.zeros([8, 4], { dtype: 'float64' }).add(torch.tensor([0.03, 0, 0, 0], { dtype: 'float64' }));
    const x = collapsed.add(torch.randn([8, 4], { generator: new torch.Generator(4), dtype: 'float64' }).mul(0.005));
    const share = (t: torch.Tensor) => t.div(0.01).softmax(-1).mean(0).toArray()[0] as number;
    const leaf = x.detach().requiresGrad_();
    const [g] = torch.grad(entropyLoss(leaf), [leaf]);
    const after = x.sub((g as torch.Tensor).mul(1e-3));
    assert.ok(share(after) < share(x), `code 0's share ${share(x)} → ${share(after)}`);
  });
});
