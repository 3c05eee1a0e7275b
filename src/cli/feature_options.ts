// The feature-network options the metric commands share (`d2c fid`, `d2c stats`, `d2c eval`):
// `--features fmnist` (d2c's Fashion-MNIST classifier, FID-FMNIST) or `--features inception`
// (pytorch-fid's Inception v3 from `--inception DIR`, the FID papers report).
import type { Command } from 'commander';
import type { FeatureNetwork } from '../eval/feature_network.ts';
import type { ImageSetOptions } from '../eval/fid_inputs.ts';
import { classifierFeatureNetwork, classifierName, DEFAULT_CLASSIFIER_DIR, loadClassifier } from '../eval/fmnist_classifier.ts';
import { DEFAULT_INCEPTION_DIR, inceptionFeatureNetwork, loadInception } from '../eval/inception_network.ts';
import { UsageError } from './errors.ts';
import { choiceOption, positiveInt } from './options.ts';

export const FEATURES = ['fmnist', 'inception'] as const;
export type Features = (typeof FEATURES)[number];

export interface FeatureFlags {
  features: Features;
  classifier: string;
  inception: string;
  featureBatch?: number;
}

/** Adds --features, --classifier, --inception and --feature-batch to a command. */
export function featureOptions(cmd: Command, defaultFeatures: Features = 'fmnist'): Command {
  return cmd
    .option('--features <net>', `feature network: ${FEATURES.join(' | ')}`, choiceOption('--features', FEATURES), defaultFeatures)
    .option('--classifier <dir>', 'Fashion-MNIST classifier checkpoint (--features fmnist)', DEFAULT_CLASSIFIER_DIR)
    .option('--inception <dir>', 'converted FID Inception weights (--features inception)', DEFAULT_INCEPTION_DIR)
    .option(
      '--feature-batch <n>',
      'images per feature-network batch (default 50 for inception, 500 for fmnist)',
      positiveInt('--feature-batch'),
    );
}

/** Loads the chosen network; a missing weights folder is a UsageError that says how to get it. */
export function loadFeatureNetwork(o: FeatureFlags): { net: FeatureNetwork; input: ImageSetOptions['input']; batchSize: number } {
  try {
    if (o.features === 'inception') {
      return {
        net: inceptionFeatureNetwork(loadInception(o.inception)),
        input: { kind: 'inception' },
        batchSize: o.featureBatch ?? 50,
      };
    }
    const { model, info } = loadClassifier(o.classifier);
    const input = { kind: 'fixed', size: model.config.imageSize, channels: model.config.inChannels as 1 | 3 } as const;
    return { net: classifierFeatureNetwork(model, classifierName(info)), input, batchSize: o.featureBatch ?? 500 };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}
