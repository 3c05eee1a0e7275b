// `d2c eval-real`: the metrics of real Fashion-MNIST test images against the training set, the
// floor any generator's `d2c eval` figures should be read against.

import type { Command } from 'commander';
import { FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, loadFashionMnist } from '../../data/fashion_mnist.ts';
import { evaluateSamples, realImageSampler } from '../../eval/evaluate.ts';
import { classifierFeatureNetwork, DEFAULT_CLASSIFIER_DIR, loadClassifier } from '../../eval/fmnist_classifier.ts';
import * as torch from '../../torch/index.ts';

export function register(program: Command): void {
  program
    .command('eval-real')
    .description('FID/KID/IS/precision/recall (Fashion-MNIST classifier features) of real test images against the training set')
    .option('--n <n>', 'number of test images (class-balanced)', '10000')
    .option('--classifier <dir>', 'feature network checkpoint', DEFAULT_CLASSIFIER_DIR)
    .option('--data <dir>', 'Fashion-MNIST folder', FASHION_MNIST_DIR)
    .option('--out <dir>', 'where report.json and samples.png go')
    .option('--seed <n>', 'seed (KID subsets)', '0')
    .option('--threads <n>', 'intra-op threads', '2')
    .action(async (o) => {
      const n = Number(o.n);
      if (!Number.isInteger(n) || n < 2) throw new Error(`--n: expected an integer ≥ 2, got "${o.n}"`);
      torch.setNumThreads(Number(o.threads));
      const { model } = loadClassifier(o.classifier);
      const report = await evaluateSamples(realImageSampler(loadFashionMnist('test', { dir: o.data })), {
        net: classifierFeatureNetwork(model),
        reference: loadFashionMnist('train', { dir: o.data }),
        n,
        numClasses: FASHION_MNIST_CLASSES.length,
        seed: Number(o.seed),
        outDir: o.out,
        meta: { samples: 'fashion-mnist/test (real)', command: `d2c eval-real ${process.argv.slice(3).join(' ')}`.trim() },
        onProgress: (stage, d, t) => {
          if (stage !== 'sample' || d === t || d % 2000 === 0) console.error(`${stage} ${d}/${t}`);
        },
      });
      console.log(JSON.stringify(report.metrics));
    });
}
