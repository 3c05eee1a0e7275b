// What `d2c fid`, `d2c stats` and `d2c eval` accept as an image set, turned into features or FID
// statistics through a FeatureNetwork: a flat folder of images, an `.npz` of statistics (`mu`,
// `sigma`: pytorch-fid's --save-stats, the ADM evaluator's reference batches) or an ADM-style `.npz`
// of images (`arr_0`, [N, H, W, 3] uint8). Batches are decoded and embedded one at a time.

import { statSync } from 'node:fs';
import * as torch from '../torch/index.ts';
import { type Embeddings, embed, embedAsync, type FeatureNetwork } from './feature_network.ts';
import { type FeatureStats, featureStats } from './frechet.ts';
import { fixedSizeBatchFromFiles, inceptionBatchFromArray, inceptionBatchFromFiles, listImageFiles } from './image_files.ts';
import { NpzFile } from './npz.ts';

export interface ImageSetOptions {
  /** How files become the network's input: any size for Inception (it resizes), or d2c's fixed size. */
  input: { kind: 'inception' } | { kind: 'fixed'; size: number; channels: 1 | 3 };
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Features (and probabilities) of a folder of images, or of the images of an `.npz` (`arr_0`). */
export async function embedImagePath(path: string, net: FeatureNetwork, o: ImageSetOptions): Promise<Embeddings> {
  const bs = o.batchSize ?? 50;
  const opts = { batchSize: bs, onProgress: o.onProgress };
  if (path.endsWith('.npz')) {
    const npz = new NpzFile(path);
    try {
      if (!npz.has('arr_0')) throw new Error(`${path} has no images (arr_0); it has ${npz.names.join(', ') || 'no arrays'}`);
      if (o.input.kind !== 'inception') throw new Error(`${path}: images in an .npz are read for --features inception only`);
      const { shape, dtype } = npz.info('arr_0');
      const [n, , , c] = shape;
      if (dtype !== 'uint8' || !((shape.length === 4 && c === 3) || shape.length === 3))
        throw new Error(`${path}: arr_0 is ${dtype} [${shape.join(', ')}], expected uint8 images [N, H, W, 3]`);
      if (n < 2) throw new Error(`${path}: arr_0 has ${n} image(s); need at least 2 for a covariance`);
      return embed(net, n, (s, e) => torch.tidy(() => inceptionBatchFromArray(npz.rows('arr_0', s, e), 0, e - s)), opts);
    } finally {
      npz.close();
    }
  }
  const files = listImageFiles(path);
  const input = o.input;
  return embedAsync(
    net,
    files.length,
    (s, e) =>
      input.kind === 'inception'
        ? inceptionBatchFromFiles(files, s, e)
        : fixedSizeBatchFromFiles(files, s, e, input.size, input.channels),
    opts,
  );
}

/**
 * The statistics (mu [d], sigma [d, d]) of an `.npz`, whatever the network that made them; null when
 * it holds neither (an image `.npz`). Throws naming the file when they are incomplete or disagree.
 */
export function readStatsFile(path: string): FeatureStats | null {
  const npz = new NpzFile(path);
  try {
    const hasMu = npz.has('mu');
    const hasSigma = npz.has('sigma');
    if (!hasMu && !hasSigma) return null;
    if (!hasMu || !hasSigma)
      throw new Error(`${path} has ${hasMu ? 'mu' : 'sigma'} but no ${hasMu ? 'sigma' : 'mu'}; FID statistics need both`);
    const mu = npz.array('mu');
    const sigma = npz.array('sigma');
    const d = mu.shape[0];
    if (mu.ndim !== 1 || sigma.ndim !== 2 || sigma.shape[0] !== d || sigma.shape[1] !== d) {
      const got = `mu [${mu.shape.join(', ')}], sigma [${sigma.shape.join(', ')}]`;
      torch.dispose([mu, sigma]);
      throw new Error(`${path} holds ${got}; FID statistics are mu [d] and sigma [d, d]`);
    }
    return { mu, sigma };
  } finally {
    npz.close();
  }
}

/** `readStatsFile`, checked against the network the other set is embedded with. */
export function readStatsNpz(path: string, net: FeatureNetwork): FeatureStats | null {
  const stats = readStatsFile(path);
  if (!stats) return null;
  const d = net.featureDim;
  if (stats.mu.shape[0] !== d) {
    const got = stats.mu.shape[0];
    torch.dispose(stats);
    throw new Error(
      `${path} holds mu [${got}], sigma [${got}, ${got}]; the ${net.name} network's statistics are mu [${d}], sigma [${d}, ${d}]`,
    );
  }
  return stats;
}

/** FID statistics of a path: an `.npz` of statistics (or of images), or a folder of images. */
export async function statsOfPath(path: string, net: FeatureNetwork, o: ImageSetOptions): Promise<FeatureStats> {
  if (path.endsWith('.npz')) {
    if (!statSync(path, { throwIfNoEntry: false })?.isFile()) throw new Error(`${path}: no such file`);
    const stats = readStatsNpz(path, net);
    if (stats) return stats;
    const npz = new NpzFile(path);
    const names = npz.names;
    npz.close();
    if (!names.includes('arr_0'))
      throw new Error(`${path} has arrays [${names.join(', ')}]; expected mu and sigma (FID statistics) or arr_0 (images)`);
  }
  const e = await embedImagePath(path, net, o);
  const s = featureStats(e.features);
  torch.dispose(e);
  return s;
}
