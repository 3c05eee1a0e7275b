// Opens a dataset by name, the one place the CLI and training commands turn
// `--dataset/--data/--split/--size/--channels` into an ImageSet.
import type { ImageSet } from './dataset.ts';
import { FASHION_MNIST_DIR, type FashionMnistSplit, loadFashionMnist } from './fashion_mnist.ts';
import { type OnCorrupt, scanImageFolder } from './image_folder.ts';
import { syntheticImageSet } from './synthetic.ts';

export const DATASETS = ['fashion-mnist', 'imagefolder', 'synthetic'] as const;
export type DatasetName = (typeof DATASETS)[number];

export interface OpenOptions {
  dataset: DatasetName;
  /** Folder: Fashion-MNIST IDX files, or the ImageFolder root (required for imagefolder). */
  data?: string;
  /** Fashion-MNIST split (default train). */
  split?: FashionMnistSplit;
  /** Output size and channels for imagefolder and synthetic (Fashion-MNIST is always 32×32×1). */
  size?: number;
  channels?: 1 | 3;
  /** Synthetic: sample count and seed. */
  count?: number;
  seed?: number;
  onCorrupt?: OnCorrupt;
  warn?: (m: string) => void;
}

export async function openImageSet(o: OpenOptions): Promise<ImageSet> {
  switch (o.dataset) {
    case 'fashion-mnist':
      return loadFashionMnist(o.split ?? 'train', { dir: o.data ?? FASHION_MNIST_DIR });
    case 'imagefolder':
      if (!o.data) throw new Error('the imagefolder dataset needs --data DIR (a folder of DIR/<class>/<image>)');
      return scanImageFolder(o.data, { size: o.size ?? 256, channels: o.channels ?? 3, onCorrupt: o.onCorrupt, warn: o.warn });
    case 'synthetic':
      return syntheticImageSet({ count: o.count ?? 1000, seed: o.seed ?? 0, size: o.size ?? 32, channels: o.channels ?? 1 });
    default:
      throw new Error(`dataset must be one of ${DATASETS.join(', ')}, got "${o.dataset}"`);
  }
}
