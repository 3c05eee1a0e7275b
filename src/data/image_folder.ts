// ImageFolder: `root/<class>/<image>`, classes = sorted folder names (torchvision's convention, which
// MAR and LlamaGen train on). Images are decoded by sharp (JPEG/PNG/WebP; grayscale, CMYK, alpha and
// 16-bit inputs become 8-bit sRGB as PIL's `.convert('RGB')` does) and centre-cropped with
// `center_crop_arr` (center_crop.ts). Scanning checks every file's header so a corrupt file is found
// before training; a file that only fails on full decode is handled by the loader.
import { readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import sharp from 'sharp';
import { centerCropArr, rgbToGray } from './center_crop.ts';
import type { ArrayImageSet, FileImageSet } from './dataset.ts';

export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp'] as const;
const FORMATS = new Set(['jpeg', 'png', 'webp']);

export type OnCorrupt = 'skip' | 'error';

export interface ImageFolderOptions {
  /** Output side (the model's image size). */
  size: number;
  /** Output channels, 1 (PIL 'L' luma) or 3 (RGB). */
  channels: 1 | 3;
  /** A file that cannot be read: skip it with a warning (default) or fail. */
  onCorrupt?: OnCorrupt;
  /** Where warnings go (default console.warn). */
  warn?: (message: string) => void;
  /** Header checks in flight at once (default 16). */
  concurrency?: number;
}

export interface ImageFolderSet extends FileImageSet {
  /** Class name → label, to save in the model config. */
  readonly classToIndex: Record<string, number>;
  /** Files left out because they could not be read. */
  readonly skipped: readonly string[];
}

export function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Throws unless sharp can read the header of a supported format. */
async function checkHeader(path: string): Promise<void> {
  const meta = await sharp(path).metadata();
  if (!meta.format || !FORMATS.has(meta.format)) throw new Error(`format ${meta.format ?? 'unknown'} is not JPEG, PNG or WebP`);
  if (!meta.width || !meta.height) throw new Error('image has no size');
}

/** Runs `fn` over items with at most `limit` in flight. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const run = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
  return out;
}

/** Lists and checks `root/<class>/<image>`; fails on a missing root, no classes, or empty class folders. */
export async function scanImageFolder(root: string, opts: ImageFolderOptions): Promise<ImageFolderSet> {
  const { size, channels } = opts;
  const onCorrupt = opts.onCorrupt ?? 'skip';
  const warn = opts.warn ?? ((m: string) => console.warn(m));
  if (!Number.isInteger(size) || size <= 0) throw new Error(`ImageFolder: size must be a positive integer, got ${size}`);
  if (channels !== 1 && channels !== 3) throw new Error(`ImageFolder: channels must be 1 or 3, got ${channels}`);
  if (onCorrupt !== 'skip' && onCorrupt !== 'error')
    throw new Error(`ImageFolder: onCorrupt must be "skip" or "error", got "${onCorrupt}"`);
  if (!isDir(root)) throw new Error(`ImageFolder: ${root} is not a folder (expected ${root}/<class>/<image>)`);
  const classes = readdirSync(root)
    .filter((d) => !d.startsWith('.') && isDir(join(root, d)))
    .sort();
  if (classes.length === 0) throw new Error(`ImageFolder: ${root} has no class folders (expected ${root}/<class>/<image>)`);

  const candidates: { path: string; label: number }[] = [];
  classes.forEach((c, label) => {
    const names = readdirSync(join(root, c))
      .filter((f) => !f.startsWith('.') && (IMAGE_EXTENSIONS as readonly string[]).includes(extname(f).toLowerCase()))
      .sort();
    for (const f of names) candidates.push({ path: join(root, c, f), label });
  });

  const problems = await mapLimit(candidates, opts.concurrency ?? 16, async ({ path }) => {
    try {
      await checkHeader(path);
      return null;
    } catch (e) {
      return `${path}: ${(e as Error).message}`;
    }
  });
  const bad = problems.filter((p): p is string => p !== null);
  if (bad.length > 0 && onCorrupt === 'error')
    throw new Error(`ImageFolder: ${bad.length} unreadable image file(s):\n  ${bad.join('\n  ')}`);
  for (const p of bad) warn(`warning: skipping unreadable image ${p}`);

  const kept = candidates.filter((_, i) => problems[i] === null);
  const counts = new Array<number>(classes.length).fill(0);
  for (const k of kept) counts[k.label]++;
  const empty = classes.filter((_, i) => counts[i] === 0);
  if (empty.length > 0)
    throw new Error(
      `ImageFolder: class folder(s) with no readable images in ${root}: ${empty.join(', ')} ` +
        `(supported: ${IMAGE_EXTENSIONS.join(' ')}); remove them or add images`,
    );
  return {
    kind: 'files',
    name: `imagefolder:${root}`,
    classes,
    channels,
    size,
    files: kept.map((k) => k.path),
    labels: Int32Array.from(kept, (k) => k.label),
    classToIndex: Object.fromEntries(classes.map((c, i) => [c, i])),
    skipped: candidates.filter((_, i) => problems[i] !== null).map((c) => c.path),
    onCorrupt,
  };
}

/** Decodes one file to [C, size, size] uint8 (planar, like the in-memory sets). */
export async function decodeImage(path: string, size: number, channels: 1 | 3): Promise<Uint8Array> {
  // toColourspace('srgb') turns grayscale, CMYK (through its ICC profile) and 16-bit into 8-bit RGB;
  // alpha is dropped without compositing, as PIL's convert('RGB').
  const { data, info } = await sharp(path).toColourspace('srgb').removeAlpha().raw({ depth: 'uchar' }).toBuffer({
    resolveWithObject: true,
  });
  if (info.channels !== 3) throw new Error(`${path}: decoded to ${info.channels} channels, expected 3`);
  let img = centerCropArr({ data, width: info.width, height: info.height, channels: 3 }, size);
  if (channels === 1) img = rgbToGray(img);
  const plane = size * size;
  const out = new Uint8Array(channels * plane);
  for (let p = 0; p < plane; p++) for (let c = 0; c < channels; c++) out[c * plane + p] = img.data[p * channels + c];
  return out;
}

/** Decodes every file of a set into memory: small colour datasets (a few thousand images) fit easily. */
export async function decodeImageSet(set: FileImageSet, concurrency = 16): Promise<ArrayImageSet> {
  const per = set.channels * set.size * set.size;
  const pixels = new Uint8Array(set.files.length * per);
  await mapLimit(
    set.files.map((f, i) => [f, i] as const),
    concurrency,
    async ([f, i]) => {
      pixels.set(await decodeImage(f, set.size, set.channels), i * per);
    },
  );
  return {
    kind: 'array',
    name: set.name,
    classes: set.classes,
    channels: set.channels,
    size: set.size,
    labels: set.labels,
    pixels,
  };
}

/** The set labelled by another class order (a held-out split may lack classes); a class outside it is an error. */
export function withClassOrder(set: ArrayImageSet, classes: readonly string[], whose: string): ArrayImageSet {
  const unknown = set.classes.filter((c) => !classes.includes(c));
  if (unknown.length > 0) throw new Error(`${set.name} has classes that ${whose} lacks: ${unknown.join(', ')}`);
  return { ...set, classes, labels: Int32Array.from(set.labels, (l) => classes.indexOf(set.classes[l])) };
}
