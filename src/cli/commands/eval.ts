// `d2c eval --model DIR --n 10000`: class-balanced, seeded samples from a D2C model, scored with
// the Fashion-MNIST classifier's features against the test split (fid_fmnist, kid, is,
// precision/recall); writes report.json and samples.png. The sampling options of both stages
// are the same as `d2c sample`, so guidance/temperature/step curves can be swept.
// `--features inception` scores any model with pytorch-fid's Inception (fid_inception, is_inception,
// and KID/precision/recall when the reference has images) against `--reference`: a folder, an
// `.npz` of statistics (the ADM evaluator's reference batches) or of images, or fmnist:<split>.
// The arms of the stage-2 study: `--stage1-only` scores stage 1's codes decoded by the VQ decoder
// (stage 2 never runs); `--oracle` conditions stage 2 on the real codes of Fashion-MNIST test
// images and adds the PSNRs of pipeline/oracle.ts to the report; both together score the VQ decoder's
// rendering of those real codes (the preview's oracle arm: its `psnr` is `vq_recon_psnr`).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { ArrayImageSet } from '../../data/dataset.ts';
import { FASHION_MNIST_DIR, loadFashionMnist } from '../../data/fashion_mnist.ts';
import { decodeImageSet, scanImageFolder, withClassOrder } from '../../data/image_folder.ts';
import { evaluateSamples, type Reference } from '../../eval/evaluate.ts';
import type { FeatureNetwork } from '../../eval/feature_network.ts';
import { embedImagePath, type ImageSetOptions, readStatsNpz } from '../../eval/fid_inputs.ts';
import { oracleSampler } from '../../pipeline/oracle.ts';
import * as torch from '../../torch/index.ts';
import { type DeviceFlags, type PrecisionFlags, samplingDeviceOptions } from '../device_options.ts';
import { UsageError } from '../errors.ts';
import { type FeatureFlags, featureOptions, loadFeatureNetwork } from '../feature_options.ts';
import { intOption, positiveInt } from '../options.ts';
import { progressBar } from '../progress.ts';
import { DEFAULT_MODEL, generateOptions, loadModel, type SamplingFlags, samplingOptions } from './sample.ts';

export function register(program: Command): void {
  featureOptions(
    samplingDeviceOptions(
      samplingOptions(
        program
          .command('eval')
          .description(
            'FID, KID, IS and precision/recall of a model’s samples (FID-FMNIST against the Fashion-MNIST test split, or Inception FID with --features inception)',
          )
          .option('--model <dir>', 'D2C model folder', DEFAULT_MODEL)
          .option('--n <n>', 'number of samples (class-balanced)', intOption('--n', { min: 2 }), 10000)
          .option('--batch-size <n>', 'images per sampling batch', positiveInt('--batch-size'), 100)
          .option('--seed <n>', 'seed (batch b uses seed + b)', intOption('--seed', { min: 0 }), 0)
          .option(
            '--data <dir>',
            'Fashion-MNIST folder (fmnist:<split> references; --oracle takes its test split), or an ImageFolder root whose images --oracle encodes',
            FASHION_MNIST_DIR,
          )
          .option('--reference <set>', 'fmnist:test | fmnist:train | folder | .npz (mu/sigma or arr_0)', 'fmnist:test')
          .option('--out <dir>', 'where report.json and samples.png go', 'out/eval')
          .option('--stage1-only', 'score stage 1 alone: its codes decoded by the VQ decoder (stage 2 never runs)', false)
          .option(
            '--oracle',
            'condition stage 2 on the real VQ codes of the first n/K Fashion-MNIST test images of each class; adds PSNRs (with --stage1-only: those codes VQ-decoded)',
            false,
          )
          .option('--threads <n>', 'intra-op threads', positiveInt('--threads'), 2),
      ),
    ),
  ).action(
    async (
      o: SamplingFlags &
        DeviceFlags &
        PrecisionFlags &
        FeatureFlags & {
          model: string;
          reference: string;
          n: number;
          batchSize: number;
          seed: number;
          data: string;
          out: string;
          threads: number;
          stage1Only: boolean;
          oracle: boolean;
        },
    ) => {
      torch.setNumThreads(o.threads);
      const m = loadModel(o.model, o);
      if (o.oracle && m.stage2.fake_latent.device !== 'cpu')
        throw new UsageError('--oracle runs on the CPU (its real codes come from the host): drop --device');
      if (m.marOnly && (o.stage1Only || o.oracle))
        throw new UsageError(`--${o.oracle ? 'oracle' : 'stage1-only'}: ${o.model} is a MAR-only model (no stage 1)`);
      const { net, input, batchSize: featureBatch } = loadFeatureNetwork(o);
      if (input.kind === 'fixed' && (m.info.channels !== input.channels || m.info.imageSize !== input.size)) {
        throw new UsageError(
          `eval: ${o.model} makes ${m.info.imageSize}×${m.info.imageSize}×${m.info.channels} images, but the classifier ${o.classifier} ` +
            `takes ${input.size}×${input.size}×${input.channels}: give the classifier of its data (--classifier DIR), or --features inception`,
        );
      }
      if (/^fmnist:/.test(o.reference) && input.kind === 'fixed' && input.channels !== 1)
        throw new UsageError(
          `--reference ${o.reference}: Fashion-MNIST is not the data of ${o.classifier}; give its images (a folder or .npz)`,
        );
      const reference = await loadReference(o.reference, net, { input, batchSize: featureBatch }, o.data);
      const bar = progressBar('eval');
      const options = (classes: number[], seed: number) => ({
        ...generateOptions(o, classes, seed),
        stage1Only: o.stage1Only,
        preview: false, // scored are the final images (or, with --stage1-only, the previews themselves)
      });
      const oracle = o.oracle
        ? oracleSampler(m, await oracleImages(o.data, m.classes, m.info.imageSize, m.info.channels as 1 | 3), options)
        : null;
      const sampler =
        oracle?.sampler ??
        (async (classes: number[], seed: number) => {
          const r = m.generate(options(classes, seed));
          r.codes?.dispose();
          if (r.images.device === 'cpu') return r.images;
          const host = r.images.cpu(); // the feature network runs on the CPU
          r.images.dispose();
          return host;
        });
      const report = await evaluateSamples(sampler, {
        net,
        reference,
        featureBatch,
        n: o.n,
        numClasses: m.classes.length,
        batchSize: o.batchSize,
        seed: o.seed,
        outDir: o.out,
        meta: {
          model: o.model,
          reference: o.reference,
          arm: o.oracle ? (o.stage1Only ? 'oracle-stage1-only' : 'oracle') : o.stage1Only ? 'stage1-only' : 'generated',
          sampling: options([], o.seed),
          command: `d2c ${process.argv.slice(2).join(' ')}`,
        },
        samplerMetrics: oracle ? () => ({ ...oracle.psnr() }) : undefined,
        onProgress: (stage, d, t) => bar.update(d, t, stage),
      });
      bar.done();
      process.stdout.write(`${JSON.stringify({ ...report.metrics, seconds: report.seconds })}\n`);
    },
  );
}

/** The reference set of `--reference`: a Fashion-MNIST split, or a folder / .npz through the network. */
async function loadReference(path: string, net: FeatureNetwork, o: ImageSetOptions, data: string): Promise<Reference> {
  const split = /^fmnist:(train|test)$/.exec(path)?.[1] as 'train' | 'test' | undefined;
  if (split) return loadFashionMnist(split, { dir: data });
  try {
    if (path.endsWith('.npz')) {
      const stats = readStatsNpz(path, net);
      if (stats) return { kind: 'stats', name: path, stats };
    }
    return { kind: 'embedded', name: path, embeddings: await embedImagePath(path, net, o) };
  } catch (e) {
    throw new UsageError(`--reference: ${(e as Error).message}`);
  }
}

/**
 * The real images whose codes `--oracle` gives stage 2: Fashion-MNIST's test split, or an
 * ImageFolder (root/<class>/<image>) labelled by the model's class names.
 */
async function oracleImages(data: string, classes: readonly string[], size: number, channels: 1 | 3): Promise<ArrayImageSet> {
  const idx = ['t10k-images-idx3-ubyte.gz', 't10k-images-idx3-ubyte'].some((f) => existsSync(join(data, f)));
  if (idx || data === FASHION_MNIST_DIR) return loadFashionMnist('test', { dir: data });
  try {
    const set = await decodeImageSet(await scanImageFolder(data, { size, channels, onCorrupt: 'error' }));
    return withClassOrder(set, classes, 'the model');
  } catch (e) {
    throw new UsageError(`--data: ${(e as Error).message}`);
  }
}
