// `d2c train classifier`: trains the feature network of a dataset's metrics and writes it as a
// checkpoint folder (config.json + model.safetensors). `--data` is the Fashion-MNIST IDX folder
// (metrics `*_fmnist`), or an ImageFolder root with train/<class>/ and test/<class>/ (as
// `d2c data emoji` writes), whose metrics are named after `--name` (default: the folder's name).
import { basename, join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { ArrayImageSet } from '../../data/dataset.ts';
import { FASHION_MNIST_DIR, loadFashionMnist } from '../../data/fashion_mnist.ts';
import { decodeImageSet, isDir, scanImageFolder, withClassOrder } from '../../data/image_folder.ts';
import { CLASSIFIER_PRESETS, type ClassifierPreset, saveClassifier } from '../../eval/fmnist_classifier.ts';
import { DEFAULT_TRAIN_OPTIONS, trainClassifier } from '../../eval/train_classifier.ts';
import * as torch from '../../torch/index.ts';
import { UsageError } from '../errors.ts';
import { choiceOption, intOption, numberOption, positiveInt } from '../options.ts';

/** The `train` parent command, shared with the other `train <model>` commands. */
export function trainParent(program: Command): Command {
  return program.commands.find((c) => c.name() === 'train') ?? program.command('train').description('train a model');
}

const PRESETS = Object.keys(CLASSIFIER_PRESETS) as ClassifierPreset[];

/** Steps an ImageFolder classifier trains for when --epochs is not given (small sets need many epochs). */
const IMAGEFOLDER_STEPS = 600;

interface ClassifierFlags {
  out?: string;
  data: string;
  name?: string;
  size: number;
  preset?: ClassifierPreset;
  epochs?: number;
  batchSize: number;
  lr: number;
  weightDecay: number;
  seed: number;
  threads: number;
  fp16: boolean;
}

interface Sets {
  train: ArrayImageSet;
  test: ArrayImageSet | null;
  name: string;
  defaultPreset: ClassifierPreset;
}

/** The training and held-out sets of --data: Fashion-MNIST's IDX files, or an ImageFolder's train/ and test/. */
async function openSets(o: ClassifierFlags): Promise<Sets> {
  const root = o.data;
  if (!isDir(join(root, 'train'))) {
    return {
      train: loadFashionMnist('train', { dir: root }),
      test: loadFashionMnist('test', { dir: root }),
      name: o.name ?? 'fmnist',
      defaultPreset: 'fmnist_cnn',
    };
  }
  const open = async (split: string) =>
    decodeImageSet(await scanImageFolder(join(root, split), { size: o.size, channels: 3, onCorrupt: 'error' }));
  const train = await open('train');
  const test = isDir(join(root, 'test')) ? withClassOrder(await open('test'), train.classes, 'train/') : null;
  return { train, test, name: o.name ?? basename(resolve(root)), defaultPreset: 'colour_cnn' };
}

export function register(program: Command): void {
  const d = DEFAULT_TRAIN_OPTIONS;
  trainParent(program)
    .command('classifier')
    .description('train the feature network of a dataset’s FID/KID/IS/precision/recall (and of the perceptual loss)')
    .option(
      '--out <dir>',
      'output checkpoint folder (default models/<name>-classifier: models/fmnist-classifier for Fashion-MNIST)',
    )
    .option(
      '--data <dir>',
      'Fashion-MNIST IDX folder, or an ImageFolder root with train/<class>/ and test/<class>/',
      FASHION_MNIST_DIR,
    )
    .option('--name <name>', 'dataset name for the metrics (fid_<name>, ...); default fmnist, or the ImageFolder’s folder name')
    .option('--size <n>', 'ImageFolder: image side the classifier sees', positiveInt('--size'), 32)
    .option(
      '--preset <name>',
      `architecture (${PRESETS.join(', ')}; default fmnist_cnn, colour_cnn for an ImageFolder)`,
      choiceOption('--preset', PRESETS),
    )
    .option(
      '--epochs <n>',
      `epochs (default ${d.epochs}; an ImageFolder: about ${IMAGEFOLDER_STEPS} steps)`,
      positiveInt('--epochs'),
    )
    .option('--batch-size <n>', 'batch size', positiveInt('--batch-size'), d.batchSize)
    .option('--lr <x>', 'peak learning rate (AdamW, cosine decay)', numberOption('--lr', { gt: 0 }), d.lr)
    .option('--weight-decay <x>', 'AdamW weight decay', numberOption('--weight-decay', { min: 0 }), d.weightDecay)
    .option('--seed <n>', 'seed of the one generator', intOption('--seed', { min: 0 }), d.seed)
    .option('--threads <n>', 'intra-op threads', positiveInt('--threads'), 2)
    .option('--fp16', 'store weights as float16', false)
    .action(async (o: ClassifierFlags) => {
      torch.setNumThreads(o.threads);
      let sets: Sets;
      try {
        sets = await openSets(o);
      } catch (e) {
        throw new UsageError(`--data: ${(e as Error).message}`);
      }
      const { train, test, name } = sets;
      const preset = o.preset ?? sets.defaultPreset;
      const base = CLASSIFIER_PRESETS[preset];
      const config = { ...base, inChannels: train.channels, imageSize: train.size, numClasses: train.classes.length };
      if (!/^[a-z0-9_-]+$/i.test(name)) throw new UsageError(`--name must be letters, digits, - or _, got "${name}"`);
      const out = o.out ?? `models/${name}-classifier`;
      const stepsPerEpoch = Math.max(1, Math.floor(train.labels.length / o.batchSize));
      const epochs = o.epochs ?? (sets.defaultPreset === 'fmnist_cnn' ? d.epochs : Math.ceil(IMAGEFOLDER_STEPS / stepsPerEpoch));
      const opts = {
        config,
        epochs,
        batchSize: o.batchSize,
        lr: o.lr,
        weightDecay: o.weightDecay,
        warmupSteps: Math.min(d.warmupSteps, Math.floor((epochs * stepsPerEpoch) / 10)),
        seed: o.seed,
      };
      const r = trainClassifier(train, test, {
        ...opts,
        onStep: (s) => {
          if (s.step % 50 === 0)
            console.error(`epoch ${s.epoch} step ${s.step}/${s.steps} loss ${s.loss.toFixed(4)} lr ${s.lr.toExponential(2)}`);
        },
        onEpoch: (e) =>
          console.error(
            `epoch ${e.epoch}: train loss ${e.trainLoss.toFixed(4)}, test accuracy ${e.testAccuracy?.toFixed(4) ?? '-'}, ${e.seconds.toFixed(0)} s`,
          ),
      });
      saveClassifier(
        out,
        r.model,
        {
          preset,
          name,
          classes: [...train.classes],
          training: {
            command: `d2c ${process.argv.slice(2).join(' ')}`.trim(),
            data: resolve(o.data),
            trainImages: train.labels.length,
            testImages: test?.labels.length ?? 0,
            ...opts,
            config: undefined,
            steps: r.steps,
            wallSeconds: Math.round(r.seconds),
            threads: torch.getNumThreads(),
            finalTrainLoss: r.finalTrainLoss,
            testAccuracy: r.testAccuracy,
          },
        },
        o.fp16,
      );
      console.log(JSON.stringify({ out, name, testAccuracy: r.testAccuracy, epochs: r.epochs, seconds: Math.round(r.seconds) }));
    });
}
