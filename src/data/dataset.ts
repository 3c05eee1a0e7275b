// The shapes the data layer hands around: a labelled set of square images, held either as one
// uint8 array in memory (Fashion-MNIST, synthetic) or as files decoded on demand (ImageFolder).
export interface ImageSetInfo {
  /** Human name for summaries, e.g. "fashion-mnist/train". */
  readonly name: string;
  /** Class names; label k is classes[k]. */
  readonly classes: readonly string[];
  /** Channels of every image as the model sees it (1 or 3). */
  readonly channels: 1 | 3;
  /** Height = width of every image. */
  readonly size: number;
  /** Label of each sample (int32, 0 ≤ label < classes.length). */
  readonly labels: Int32Array;
}

/** Images already decoded: `pixels` is [N, C, H, W] uint8. */
export interface ArrayImageSet extends ImageSetInfo {
  readonly kind: 'array';
  readonly pixels: Uint8Array;
}

/** Images decoded from files when a batch needs them (see image_folder.ts, loader.ts). */
export interface FileImageSet extends ImageSetInfo {
  readonly kind: 'files';
  readonly files: readonly string[];
  /** A file that fails to decode: replaced by another of its class with a warning (default), or an error. */
  readonly onCorrupt?: 'skip' | 'error';
}

export type ImageSet = ArrayImageSet | FileImageSet;

export function numSamples(set: ImageSetInfo): number {
  return set.labels.length;
}

/** One image of an in-memory set, [C, H, W] uint8 (a view, not a copy). */
export function imageAt(set: ArrayImageSet, i: number): Uint8Array {
  if (!Number.isInteger(i) || i < 0 || i >= set.labels.length)
    throw new Error(`imageAt: index ${i} out of range for ${set.name} (${set.labels.length} samples)`);
  const n = set.channels * set.size * set.size;
  return set.pixels.subarray(i * n, (i + 1) * n);
}

/** Number of samples per class, indexed by label. */
export function classCounts(set: ImageSetInfo): number[] {
  const counts = new Array<number>(set.classes.length).fill(0);
  for (const l of set.labels) counts[l]++;
  return counts;
}

/** Checks the invariants every consumer relies on; throws naming the bad value. */
export function validateImageSet(set: ImageSet): void {
  if (set.channels !== 1 && set.channels !== 3) throw new Error(`${set.name}: channels must be 1 or 3, got ${set.channels}`);
  if (!Number.isInteger(set.size) || set.size <= 0)
    throw new Error(`${set.name}: size must be a positive integer, got ${set.size}`);
  const n = set.labels.length;
  if (set.kind === 'array' && set.pixels.length !== n * set.channels * set.size * set.size)
    throw new Error(`${set.name}: pixels hold ${set.pixels.length} bytes, expected ${n}×${set.channels}×${set.size}×${set.size}`);
  if (set.kind === 'files' && set.files.length !== n) throw new Error(`${set.name}: ${set.files.length} files but ${n} labels`);
  for (let i = 0; i < n; i++) {
    const l = set.labels[i];
    if (l < 0 || l >= set.classes.length)
      throw new Error(`${set.name}: label ${l} of sample ${i} is outside 0..${set.classes.length - 1}`);
  }
}
