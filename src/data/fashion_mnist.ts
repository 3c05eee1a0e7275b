// Fashion-MNIST (Xiao et al. 2017, github.com/zalandoresearch/fashion-mnist): 70k 28×28 grayscale
// images of 10 clothing classes in four IDX files. Padded to 32×32 so that 8× and 16× downsampling
// tokenizers give whole grids (DESIGN.md, Data).
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ArrayImageSet } from './dataset.ts';
import { readIdx } from './idx.ts';

/** Where Debian's `dataset-fashion-mnist` package installs the files. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** Label k of the dataset is FASHION_MNIST_CLASSES[k] (from the dataset's README). */
export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
] as const;

export type FashionMnistSplit = 'train' | 'test';

const FILES: Record<FashionMnistSplit, { images: string; labels: string }> = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' },
};

export const HOW_TO_GET_FASHION_MNIST =
  'get Fashion-MNIST with `apt-get install dataset-fashion-mnist` (installs it in ' +
  `${FASHION_MNIST_DIR}) or pass --data DIR, a folder holding the four IDX files ` +
  '(train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz)';

export interface FashionMnistOptions {
  /** Folder with the four IDX files (gzipped or not); default FASHION_MNIST_DIR. */
  dir?: string;
  /** Zero border added on each side; 2 gives 32×32 (default). */
  pad?: number;
}

/** The path of one IDX file, preferring the `.gz` the distribution ships; errors say how to get the data. */
function locate(dir: string, base: string): string {
  if (!existsSync(dir)) throw new Error(`Fashion-MNIST folder ${dir} does not exist; ${HOW_TO_GET_FASHION_MNIST}`);
  if (!statSync(dir).isDirectory()) throw new Error(`Fashion-MNIST path ${dir} is not a folder; ${HOW_TO_GET_FASHION_MNIST}`);
  for (const name of [`${base}.gz`, base]) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  throw new Error(`Fashion-MNIST file ${base}.gz is missing from ${dir}; ${HOW_TO_GET_FASHION_MNIST}`);
}

/** True when all four files are present (for tests that skip without the data). */
export function fashionMnistAvailable(dir = FASHION_MNIST_DIR): boolean {
  try {
    for (const split of ['train', 'test'] as const) {
      locate(dir, FILES[split].images);
      locate(dir, FILES[split].labels);
    }
    return true;
  } catch {
    return false;
  }
}

/** Copies [N, S, S] images into the centre of zeroed [N, 1, S+2p, S+2p]. */
function padImages(src: Uint8Array, n: number, s: number, pad: number): Uint8Array {
  const t = s + 2 * pad;
  const out = new Uint8Array(n * t * t);
  for (let i = 0; i < n; i++)
    for (let y = 0; y < s; y++) {
      const from = (i * s + y) * s;
      out.set(src.subarray(from, from + s), (i * t + y + pad) * t + pad);
    }
  return out;
}

/** Loads one split as an in-memory set of [N, 1, 32, 32] uint8 images with int32 labels. */
export function loadFashionMnist(split: FashionMnistSplit, opts: FashionMnistOptions = {}): ArrayImageSet {
  if (split !== 'train' && split !== 'test') throw new Error(`Fashion-MNIST split must be "train" or "test", got "${split}"`);
  const dir = opts.dir ?? FASHION_MNIST_DIR;
  const pad = opts.pad ?? 2;
  if (!Number.isInteger(pad) || pad < 0) throw new Error(`Fashion-MNIST pad must be a non-negative integer, got ${pad}`);
  const imagesPath = locate(dir, FILES[split].images);
  const labelsPath = locate(dir, FILES[split].labels);
  const images = readIdx(imagesPath);
  const labels = readIdx(labelsPath);
  if (images.dims.length !== 3 || images.dims[1] !== images.dims[2])
    throw new Error(`${imagesPath}: expected dims [N, S, S] of square images, got [${images.dims.join(', ')}]`);
  if (labels.dims.length !== 1) throw new Error(`${labelsPath}: expected dims [N], got [${labels.dims.join(', ')}]`);
  const [n, s] = images.dims;
  if (labels.dims[0] !== n) throw new Error(`${labelsPath}: ${labels.dims[0]} labels for ${n} images in ${imagesPath}`);
  const lab = Int32Array.from(labels.data);
  for (let i = 0; i < n; i++)
    if (lab[i] >= FASHION_MNIST_CLASSES.length)
      throw new Error(`${labelsPath}: label ${lab[i]} of sample ${i} is not a Fashion-MNIST class (0..9)`);
  return {
    kind: 'array',
    name: `fashion-mnist/${split}`,
    classes: FASHION_MNIST_CLASSES,
    channels: 1,
    size: s + 2 * pad,
    labels: lab,
    pixels: pad === 0 ? images.data.slice() : padImages(images.data, n, s, pad),
  };
}
