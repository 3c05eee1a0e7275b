import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { ArrayImageSet } from '../src/data/dataset.ts';
import { fashionMnistAvailable, loadFashionMnist } from '../src/data/fashion_mnist.ts';
import { balancedClasses, evaluateSamples, realImageSampler } from '../src/eval/evaluate.ts';
import { CLASSIFIER_PRESETS, classifierFeatureNetwork, FmnistClassifier } from '../src/eval/fmnist_classifier.ts';
import * as torch from '../src/torch/index.ts';
import { blankImageSet } from './helpers/blank_set.ts';

const dir = mkdtempSync(join(tmpdir(), 'd2c-eval-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The first n images of a set (a copy). */
function head(set: ArrayImageSet, n: number): ArrayImageSet {
  const per = set.channels * set.size * set.size;
  return { ...set, name: `${set.name}[:${n}]`, labels: set.labels.slice(0, n), pixels: set.pixels.slice(0, n * per) };
}

test('balancedClasses cycles through the classes', () => {
  assert.deepEqual(balancedClasses(8, 5, 10), [8, 9, 0, 1, 2]);
});

test('evaluateSamples: real images score near the floor, noise far from it; report and grid are written', {
  skip: fashionMnistAvailable() ? false : 'Fashion-MNIST is not installed',
}, async () => {
  // A seeded, untrained tiny network keeps the test independent of the shipped classifier; random
  // conv features still separate images from noise.
  const net = classifierFeatureNetwork(new FmnistClassifier(CLASSIFIER_PRESETS.tiny, { generator: new torch.Generator(0) }));
  const reference = head(loadFashionMnist('test'), 600);
  const train = head(loadFashionMnist('train'), 2000);
  const opts = { net, reference, n: 400, numClasses: 10, batchSize: 60, kidSubsets: 10, kidSubsetSize: 200, isSplits: 4 };
  const before = torch.liveTensors();
  const real = await evaluateSamples(realImageSampler(train), { ...opts, outDir: dir });
  const seen: number[][] = [];
  const noise = await evaluateSamples(async (classes, seed) => {
    seen.push(classes);
    return torch.tidy(() =>
      torch
        .rand([classes.length, 1, 32, 32], { generator: new torch.Generator(seed) })
        .mul(2)
        .sub(1),
    );
  }, opts);
  assert.ok(torch.liveTensors() <= before + 2, `live tensors grew from ${before} to ${torch.liveTensors()}`);
  assert.equal(seen.length, 7);
  assert.deepEqual(seen[1].slice(0, 3), [0, 1, 2]);
  assert.equal(seen[6].length, 40);
  const r = real.metrics;
  const z = noise.metrics;
  for (const k of ['fid_fmnist', 'kid_fmnist', 'is_fmnist', 'precision_fmnist', 'recall_fmnist', 'class_agreement_fmnist'])
    assert.ok(Number.isFinite(r[k]) && Number.isFinite(z[k]), `${k}: real ${r[k]}, noise ${z[k]}`);
  assert.ok(z.fid_fmnist > 10 * r.fid_fmnist, `FID noise ${z.fid_fmnist} vs real ${r.fid_fmnist}`);
  assert.ok(z.kid_fmnist > r.kid_fmnist + 0.01, `KID noise ${z.kid_fmnist} vs real ${r.kid_fmnist}`);
  assert.ok(r.precision_fmnist > 0.5 && r.recall_fmnist > 0.5, `real precision ${r.precision_fmnist}, recall ${r.recall_fmnist}`);
  assert.ok(z.precision_fmnist < 0.05, `noise precision ${z.precision_fmnist}`);
  assert.ok(existsSync(join(dir, 'report.json')) && existsSync(join(dir, 'samples.png')));
});

test('evaluateSamples rejects a sampler that returns the wrong shape, naming it', async () => {
  const net = classifierFeatureNetwork(new FmnistClassifier(CLASSIFIER_PRESETS.tiny, { generator: new torch.Generator(0) }));
  const reference = blankImageSet(4);
  await assert.rejects(
    evaluateSamples(async (c) => torch.zeros([c.length, 1, 28, 28]), { net, reference, n: 4, numClasses: 2 }),
    /sampler returned \[4,1,28,28\], expected \[4, 1, 32, 32\]/,
  );
});
