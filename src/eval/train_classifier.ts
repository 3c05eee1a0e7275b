// Trains the Fashion-MNIST feature classifier (fmnist_classifier.ts) with AdamW, a cosine
// learning-rate decay after a short warm-up, and random horizontal flips (every Fashion-MNIST
// class is left-right symmetric in distribution). Run by `d2c train classifier`.

import { performance } from 'node:perf_hooks';
import type { ArrayImageSet } from '../data/dataset.ts';
import { AdamW } from '../optim/adamw.ts';
import type { Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';
import { uint8ToUnit } from './feature_network.ts';
import { type ClassifierConfig, FmnistClassifier } from './fmnist_classifier.ts';

export interface TrainClassifierOptions {
  config: ClassifierConfig;
  epochs: number;
  batchSize: number;
  lr: number;
  weightDecay: number;
  warmupSteps: number;
  seed: number;
  /** Use only the first `limit` training images (tests); all when absent. */
  limit?: number;
  onStep?: (s: { epoch: number; step: number; steps: number; loss: number; lr: number }) => void;
  onEpoch?: (e: { epoch: number; trainLoss: number; testAccuracy: number | null; seconds: number }) => void;
}

export const DEFAULT_TRAIN_OPTIONS = { epochs: 4, batchSize: 128, lr: 2e-3, weightDecay: 0.05, warmupSteps: 200, seed: 0 };

export interface TrainClassifierResult {
  model: FmnistClassifier;
  epochs: number;
  steps: number;
  seconds: number;
  finalTrainLoss: number;
  testAccuracy: number | null;
}

/** uint8 pixels of a set as one tensor [N, C, S, S] (no copy into float until a batch needs it). */
export function setPixels(set: ArrayImageSet, limit?: number): { pixels: Tensor; labels: Tensor } {
  const n = Math.min(set.labels.length, limit ?? set.labels.length);
  const per = set.channels * set.size * set.size;
  return {
    pixels: torch.fromBuffer(set.pixels.slice(0, n * per), [n, set.channels, set.size, set.size], 'uint8'),
    labels: torch.tensor(set.labels.slice(0, n)).to('int64'),
  };
}

/** Fraction of `set` (first `limit` images) the model classifies correctly. */
export function classifierAccuracy(model: FmnistClassifier, set: ArrayImageSet, limit?: number, batchSize = 500): number {
  const wasTraining = model.training;
  model.eval();
  const { pixels, labels } = setPixels(set, limit);
  const n = labels.shape[0];
  let correct = 0;
  torch.noGrad(() => {
    for (let s = 0; s < n; s += batchSize) {
      const b = Math.min(batchSize, n - s);
      correct += torch.tidy(() => {
        const pred = model.forward(uint8ToUnit(pixels.narrow(0, s, b))).argmax(-1);
        return pred
          .eq(labels.narrow(0, s, b))
          .sum()
          .item();
      });
    }
  });
  torch.dispose([pixels, labels]);
  model.train(wasTraining);
  return correct / n;
}

/** Random horizontal flip of each image with probability ½, from `g`. */
function randomFlip(x: Tensor, g: torch.Generator): Tensor {
  const flip = torch.rand([x.shape[0], 1, 1, 1], { generator: g }).lt(0.5);
  return torch.where(flip, x.flip(3), x);
}

export function lrAtStep(step: number, total: number, o: Pick<TrainClassifierOptions, 'lr' | 'warmupSteps'>): number {
  if (step < o.warmupSteps) return (o.lr * (step + 1)) / o.warmupSteps;
  const t = (step - o.warmupSteps) / Math.max(1, total - o.warmupSteps);
  return o.lr * 0.5 * (1 + Math.cos(Math.PI * Math.min(1, t)));
}

export function trainClassifier(
  train: ArrayImageSet,
  test: ArrayImageSet | null,
  o: TrainClassifierOptions,
): TrainClassifierResult {
  if (!Number.isInteger(o.epochs) || o.epochs < 1)
    throw new Error(`trainClassifier: epochs must be a positive integer, got ${o.epochs}`);
  if (train.channels !== o.config.inChannels || train.size !== o.config.imageSize)
    throw new Error(
      `trainClassifier: ${train.name} has ${train.channels}×${train.size}×${train.size} images, the config expects ${o.config.inChannels}×${o.config.imageSize}×${o.config.imageSize}`,
    );
  const g = new torch.Generator(o.seed);
  const model = new FmnistClassifier(o.config, { generator: g });
  model.train();
  const opt = new AdamW(model.parameters(), { lr: o.lr, weightDecay: o.weightDecay });
  const { pixels, labels } = setPixels(train, o.limit);
  const n = labels.shape[0];
  const stepsPerEpoch = Math.floor(n / o.batchSize);
  if (stepsPerEpoch < 1) throw new Error(`trainClassifier: batch size ${o.batchSize} exceeds the ${n} training images`);
  const total = stepsPerEpoch * o.epochs;
  const t0 = performance.now();
  let step = 0;
  let lossSum = 0;
  let testAccuracy: number | null = null;
  for (let epoch = 0; epoch < o.epochs; epoch++) {
    const te = performance.now();
    const perm = torch.randperm(n, { generator: g });
    lossSum = 0;
    for (let i = 0; i < stepsPerEpoch; i++, step++) {
      const lr = lrAtStep(step, total, o);
      opt.setLr(lr);
      const loss = torch.tidy(() => {
        const idx = perm.narrow(0, i * o.batchSize, o.batchSize);
        const x = randomFlip(uint8ToUnit(pixels.indexSelect(0, idx)), g); // [B, C, S, S]
        const l = torch.F.crossEntropy(model.forward(x, g), labels.indexSelect(0, idx));
        l.backward();
        return l.item();
      });
      opt.step();
      opt.zeroGrad();
      lossSum += loss;
      o.onStep?.({ epoch, step, steps: total, loss, lr });
    }
    perm.dispose();
    testAccuracy = test ? classifierAccuracy(model, test) : null;
    o.onEpoch?.({ epoch, trainLoss: lossSum / stepsPerEpoch, testAccuracy, seconds: (performance.now() - te) / 1000 });
  }
  torch.dispose([pixels, labels]);
  model.eval();
  return {
    model,
    epochs: o.epochs,
    steps: total,
    seconds: (performance.now() - t0) / 1000,
    finalTrainLoss: lossSum / stepsPerEpoch,
    testAccuracy,
  };
}
