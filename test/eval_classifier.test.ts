import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fashionMnistAvailable, loadFashionMnist } from '../src/data/fashion_mnist.ts';
import {
  CLASSIFIER_PRESETS,
  classifierFeatureNetwork,
  DEFAULT_CLASSIFIER_DIR,
  FmnistClassifier,
  loadClassifier,
  saveClassifier,
} from '../src/eval/fmnist_classifier.ts';
import { classifierAccuracy, lrAtStep, trainClassifier } from '../src/eval/train_classifier.ts';
import * as torch from '../src/torch/index.ts';

const ROOT = join(import.meta.dirname, '..');
const SHIPPED = join(ROOT, 'models', DEFAULT_CLASSIFIER_DIR);
const dir = mkdtempSync(join(tmpdir(), 'd2c-cls-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const noData = fashionMnistAvailable() ? false : 'Fashion-MNIST is not installed';

test('classifier: feature and probability shapes, parameter count of the preset, bad input named', () => {
  torch.tidy(() => {
    const m = new FmnistClassifier(CLASSIFIER_PRESETS.fmnist_cnn, { generator: new torch.Generator(0) });
    assert.equal(m.numParameters(), 356_682);
    const net = classifierFeatureNetwork(m);
    const x = torch.zeros([3, 1, 32, 32]);
    assert.deepEqual(net.features(x).shape, [3, 128]);
    const p = net.probs!(x);
    assert.deepEqual(p.shape, [3, 10]);
    assert.ok(Math.abs(p.sum().item() - 3) < 1e-5);
    assert.throws(() => net.features(torch.zeros([3, 1, 28, 28])), /expected images \[B, 1, 32, 32\], got \[3, 1, 28, 28\]/);
  });
});

test('classifier checkpoint round trip (float32 and fp16 storage)', () => {
  torch.tidy(() => {
    const m = new FmnistClassifier(CLASSIFIER_PRESETS.tiny, { generator: new torch.Generator(1) });
    m.eval();
    const x = torch.randn([2, 1, 32, 32], { generator: new torch.Generator(2) });
    const y = m.forward(x);
    for (const fp16 of [false, true]) {
      const d = join(dir, `ck-${fp16}`);
      saveClassifier(d, m, { preset: 'tiny' }, fp16);
      const { model, info } = loadClassifier(d);
      assert.equal(info.preset, 'tiny');
      const diff = model.forward(x).sub(y).abs().max().item();
      assert.ok(diff < (fp16 ? 1e-2 : 1e-6), `max |Δlogits| ${diff} (fp16 ${fp16})`);
    }
    assert.throws(() => loadClassifier(join(dir, 'missing')), /config\.json not found .*d2c train classifier/);
  });
});

test('lr schedule: linear warm-up to the peak, cosine to 0', () => {
  const o = { lr: 1, warmupSteps: 10 };
  assert.equal(lrAtStep(9, 100, o), 1);
  assert.ok(Math.abs(lrAtStep(55, 100, o) - 0.5) < 1e-12);
  assert.ok(lrAtStep(100, 100, o) < 1e-12);
});

test('trainClassifier fits 256 training images (loss falls, train accuracy rises)', { skip: noData }, () => {
  const train = loadFashionMnist('train');
  const losses: number[] = [];
  const r = trainClassifier(train, null, {
    config: CLASSIFIER_PRESETS.tiny,
    epochs: 6,
    batchSize: 64,
    lr: 1e-2,
    weightDecay: 0,
    warmupSteps: 2,
    seed: 0,
    limit: 256,
    onStep: (s) => losses.push(s.loss),
  });
  assert.equal(r.steps, 24);
  const first = losses.slice(0, 4).reduce((a, b) => a + b) / 4;
  const last = losses.slice(-4).reduce((a, b) => a + b) / 4;
  assert.ok(last < 0.75 * first, `loss ${first.toFixed(3)} → ${last.toFixed(3)}`);
  assert.ok(classifierAccuracy(r.model, train, 256) > 0.5);
});

test('the shipped classifier reaches ≥ 92 % on the first 2,000 test images', {
  skip: noData || (existsSync(join(SHIPPED, 'config.json')) ? false : `${SHIPPED} has not been trained yet`),
}, () => {
  const { model } = loadClassifier(SHIPPED);
  const acc = classifierAccuracy(model, loadFashionMnist('test'), 2000);
  assert.ok(acc >= 0.92, `test accuracy ${acc}`);
});
