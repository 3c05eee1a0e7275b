// `d2c train classifier`: trains the Fashion-MNIST feature network of the `*_fmnist` metrics and
// writes it as a checkpoint folder (config.json + model.safetensors).

import type { Command } from 'commander';
import { FASHION_MNIST_DIR, loadFashionMnist } from '../../data/fashion_mnist.ts';
import { CLASSIFIER_PRESETS, type ClassifierPreset, saveClassifier } from '../../eval/fmnist_classifier.ts';
import { DEFAULT_TRAIN_OPTIONS, trainClassifier } from '../../eval/train_classifier.ts';
import * as torch from '../../torch/index.ts';

/** The `train` parent command, shared with the other `train <model>` commands. */
export function trainParent(program: Command): Command {
  return program.commands.find((c) => c.name() === 'train') ?? program.command('train').description('train a model');
}

export function register(program: Command): void {
  const d = DEFAULT_TRAIN_OPTIONS;
  trainParent(program)
    .command('classifier')
    .description('train the Fashion-MNIST classifier whose features the fid_fmnist/kid/is/precision/recall metrics use')
    .option('--out <dir>', 'output checkpoint folder', 'models/fmnist-classifier')
    .option('--data <dir>', 'folder with the Fashion-MNIST IDX files', FASHION_MNIST_DIR)
    .option('--preset <name>', `architecture (${Object.keys(CLASSIFIER_PRESETS).join(', ')})`, 'fmnist_cnn')
    .option('--epochs <n>', 'epochs', String(d.epochs))
    .option('--batch-size <n>', 'batch size', String(d.batchSize))
    .option('--lr <x>', 'peak learning rate (AdamW, cosine decay)', String(d.lr))
    .option('--weight-decay <x>', 'AdamW weight decay', String(d.weightDecay))
    .option('--seed <n>', 'seed of the one generator', String(d.seed))
    .option('--threads <n>', 'intra-op threads', '2')
    .option('--fp16', 'store weights as float16', false)
    .action((o) => {
      const preset = o.preset as ClassifierPreset;
      const config = CLASSIFIER_PRESETS[preset];
      if (!config) throw new Error(`--preset: unknown "${o.preset}" (expected ${Object.keys(CLASSIFIER_PRESETS).join(', ')})`);
      torch.setNumThreads(positiveInt(o.threads, '--threads'));
      const train = loadFashionMnist('train', { dir: o.data });
      const test = loadFashionMnist('test', { dir: o.data });
      const opts = {
        config,
        epochs: positiveInt(o.epochs, '--epochs'),
        batchSize: positiveInt(o.batchSize, '--batch-size'),
        lr: Number(o.lr),
        weightDecay: Number(o.weightDecay),
        warmupSteps: d.warmupSteps,
        seed: Number(o.seed),
      };
      const r = trainClassifier(train, test, {
        ...opts,
        onStep: (s) => {
          if (s.step % 50 === 0)
            console.error(`epoch ${s.epoch} step ${s.step}/${s.steps} loss ${s.loss.toFixed(4)} lr ${s.lr.toExponential(2)}`);
        },
        onEpoch: (e) =>
          console.error(
            `epoch ${e.epoch}: train loss ${e.trainLoss.toFixed(4)}, test accuracy ${e.testAccuracy?.toFixed(4)}, ${e.seconds.toFixed(0)} s`,
          ),
      });
      saveClassifier(
        o.out,
        r.model,
        {
          preset,
          training: {
            command: `d2c train classifier ${process.argv.slice(4).join(' ')}`.trim(),
            ...opts,
            config: undefined,
            steps: r.steps,
            wallSeconds: Math.round(r.seconds),
            threads: torch.getNumThreads(),
            finalTrainLoss: r.finalTrainLoss,
            testAccuracy: r.testAccuracy,
          },
        },
        Boolean(o.fp16),
      );
      console.log(JSON.stringify({ out: o.out, testAccuracy: r.testAccuracy, epochs: r.epochs, seconds: Math.round(r.seconds) }));
    });
}

function positiveInt(v: string, what: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${what}: expected a positive integer, got "${v}"`);
  return n;
}
