// `d2c fid A B`: the Fréchet distance between two image sets, printed as `{"fid": ...}` like
// `python -m pytorch_fid A B`, but in the Fashion-MNIST classifier's features (the output names
// the network: the value is FID-FMNIST, not comparable with Inception FID).
// Each of A and B is a folder of images, an `.npz` stats file (mu, sigma), or `fmnist:train` /
// `fmnist:test` for a Fashion-MNIST split. `--save-stats A OUT.npz` writes A's stats instead.

import { readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { Command } from 'commander';
import { FASHION_MNIST_DIR, loadFashionMnist } from '../../data/fashion_mnist.ts';
import { decodeImage, IMAGE_EXTENSIONS } from '../../data/image_folder.ts';
import { embedImageSet } from '../../eval/evaluate.ts';
import { embed, type FeatureNetwork, uint8ToUnit } from '../../eval/feature_network.ts';
import { classifierFeatureNetwork, DEFAULT_CLASSIFIER_DIR, loadClassifier } from '../../eval/fmnist_classifier.ts';
import { type FeatureStats, featureStats, frechetDistance, loadStats, saveStats } from '../../eval/frechet.ts';
import * as torch from '../../torch/index.ts';

/** Image files directly inside `dir`, sorted (pytorch-fid reads a flat folder). */
export function listImages(dir: string): string[] {
  const files = readdirSync(dir)
    .filter((f) => (IMAGE_EXTENSIONS as readonly string[]).includes(extname(f).toLowerCase()))
    .sort()
    .map((f) => join(dir, f));
  if (files.length < 2)
    throw new Error(`${dir}: found ${files.length} image(s) (${IMAGE_EXTENSIONS.join(', ')}); need at least 2 for a covariance`);
  return files;
}

/** FID stats of a path: an `.npz`, `fmnist:<split>`, or a folder of images decoded to the network's input. */
export async function statsOf(
  path: string,
  net: FeatureNetwork,
  o: { size: number; channels: 1 | 3; data: string },
): Promise<FeatureStats> {
  if (path.endsWith('.npz')) return loadStats(path);
  const split = /^fmnist:(train|test)$/.exec(path)?.[1] as 'train' | 'test' | undefined;
  if (split) {
    const e = embedImageSet(net, loadFashionMnist(split, { dir: o.data }));
    const s = featureStats(e.features);
    torch.dispose(e);
    return s;
  }
  if (!statSync(path, { throwIfNoEntry: false })?.isDirectory())
    throw new Error(`fid: ${path} is neither a folder of images, an .npz stats file, nor fmnist:train / fmnist:test`);
  const files = listImages(path);
  const per = o.channels * o.size * o.size;
  const pixels = new Uint8Array(files.length * per);
  for (const [i, f] of files.entries()) pixels.set(await decodeImage(f, o.size, o.channels), i * per);
  const e = embed(net, files.length, (s, t) =>
    uint8ToUnit(torch.fromBuffer(pixels.slice(s * per, t * per), [t - s, o.channels, o.size, o.size], 'uint8')),
  );
  const s = featureStats(e.features);
  torch.dispose(e);
  return s;
}

export function register(program: Command): void {
  program
    .command('fid')
    .description('Fréchet distance of two image folders / .npz stats / fmnist:<split>, in the Fashion-MNIST classifier features')
    .argument('<a>', 'folder of images, .npz stats file, or fmnist:train / fmnist:test')
    .argument('<b>', 'the same kinds; with --save-stats, the .npz to write')
    .option('--classifier <dir>', 'feature network checkpoint', DEFAULT_CLASSIFIER_DIR)
    .option('--data <dir>', 'Fashion-MNIST folder for fmnist:<split>', FASHION_MNIST_DIR)
    .option('--save-stats', "write A's stats (mu, sigma) to B instead of comparing", false)
    .option('--threads <n>', 'intra-op threads', '2')
    .action(async (a: string, b: string, o) => {
      torch.setNumThreads(Number(o.threads));
      const { model } = loadClassifier(o.classifier);
      const net = classifierFeatureNetwork(model);
      const io = { size: model.config.imageSize, channels: model.config.inChannels as 1 | 3, data: o.data };
      const sa = await statsOf(a, net, io);
      if (o.saveStats) {
        if (!b.endsWith('.npz')) throw new Error(`fid --save-stats: output ${b} must end in .npz`);
        saveStats(b, sa);
        console.log(JSON.stringify({ saved: b, n_features: sa.mu.shape[0] }));
        return;
      }
      const sb = await statsOf(b, net, io);
      const r = frechetDistance(sa, sb);
      console.log(JSON.stringify({ fid: r.fid, network: net.name, offset_used: r.offsetUsed }));
      torch.dispose([sa, sb]);
    });
}
