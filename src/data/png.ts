// Image output: tensors [B, C, H, W] in [-1, 1] → PNG files (one per image, or a grid).
// Conversion and layout follow torchvision's `save_image(x, normalize=True, value_range=(-1, 1))`
// and `make_grid(nrow, padding, pad_value)` that MAR's sampling script uses (LTH14/mar main_mar.py
// via engine_mar.evaluate), so grids look the same. PNG bytes come from sharp with fixed settings
// and no metadata: the same pixels always give the same file.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import sharp from 'sharp';
import * as torch from '../torch/index.ts';

/** Images as uint8 [B, C, H, W]. */
export interface Uint8Batch {
  data: Uint8Array;
  count: number;
  channels: number;
  height: number;
  width: number;
}

export interface GridOptions {
  /** Images per row (default 8, as torchvision). */
  nrow?: number;
  /** Pixels between and around images (default 2). */
  padding?: number;
  /** Value of the padding pixels, 0..255 (default 0). */
  padValue?: number;
}

/** [-1, 1] float → uint8 as save_image does: clamp, map to [0, 1], ×255 + 0.5, clamp, truncate. */
export function toUint8Batch(images: torch.Tensor): Uint8Batch {
  if (images.shape.length !== 4) throw new Error(`toUint8Batch: expected [B, C, H, W], got [${images.shape.join(', ')}]`);
  const [count, channels, height, width] = images.shape;
  if (channels !== 1 && channels !== 3) throw new Error(`toUint8Batch: expected 1 or 3 channels, got ${channels}`);
  const data = torch.tidy(() =>
    images.detach().to('cpu').to('float32').clamp(-1, 1).add(1).div(2).mul(255).add(0.5).clamp(0, 255).to('uint8'),
  );
  try {
    return { data: data.toTypedArray() as Uint8Array, count, channels, height, width };
  } finally {
    data.dispose();
  }
}

/** make_grid: images in rows of `nrow`, separated and surrounded by `padding` pixels. Returns [C, H', W']. */
export function makeGrid(batch: Uint8Batch, opts: GridOptions = {}): Uint8Batch {
  const nrow = opts.nrow ?? 8;
  const padding = opts.padding ?? 2;
  const padValue = opts.padValue ?? 0;
  if (!Number.isInteger(nrow) || nrow <= 0) throw new Error(`makeGrid: nrow must be a positive integer, got ${nrow}`);
  if (!Number.isInteger(padding) || padding < 0)
    throw new Error(`makeGrid: padding must be a non-negative integer, got ${padding}`);
  if (batch.count <= 0) throw new Error('makeGrid: no images');
  const { count, channels: C, height: H, width: W } = batch;
  const cols = Math.min(nrow, count);
  const rows = Math.ceil(count / cols);
  const gh = rows * (H + padding) + padding;
  const gw = cols * (W + padding) + padding;
  const out = new Uint8Array(C * gh * gw).fill(padValue);
  for (let i = 0; i < count; i++) {
    const top = Math.floor(i / cols) * (H + padding) + padding;
    const left = (i % cols) * (W + padding) + padding;
    for (let c = 0; c < C; c++)
      for (let y = 0; y < H; y++) {
        const from = ((i * C + c) * H + y) * W;
        out.set(batch.data.subarray(from, from + W), (c * gh + top + y) * gw + left);
      }
  }
  return { data: out, count: 1, channels: C, height: gh, width: gw };
}

/** PNG bytes of image `index` of a uint8 batch (planar → interleaved for sharp). */
export async function encodePng(batch: Uint8Batch, index = 0): Promise<Buffer> {
  const { channels: C, height: H, width: W } = batch;
  if (index < 0 || index >= batch.count) throw new Error(`encodePng: index ${index} out of range for ${batch.count} images`);
  const plane = H * W;
  const src = batch.data.subarray(index * C * plane, (index + 1) * C * plane);
  const hwc = Buffer.alloc(C * plane);
  for (let c = 0; c < C; c++) for (let p = 0; p < plane; p++) hwc[p * C + c] = src[c * plane + p];
  const img = sharp(hwc, { raw: { width: W, height: H, channels: C as 1 | 3 } });
  // Without b-w, sharp would write a single-channel input as RGB.
  return (C === 1 ? img.toColourspace('b-w') : img)
    .png({ compressionLevel: 9, adaptiveFiltering: false, palette: false })
    .toBuffer();
}

/** Writes bytes atomically (temp file + rename), creating the folder. */
export function writeFileAtomic(path: string, bytes: Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, path);
}

/** Saves a tensor batch in [-1, 1] as one PNG grid. */
export async function saveImageGrid(images: torch.Tensor | Uint8Batch, path: string, opts: GridOptions = {}): Promise<void> {
  const batch = images instanceof torch.Tensor ? toUint8Batch(images) : images;
  writeFileAtomic(path, await encodePng(makeGrid(batch, opts)));
}

/** Saves each image of a batch as its own PNG: `pathFor(i)` names image i. Returns the paths. */
export async function saveImages(images: torch.Tensor | Uint8Batch, pathFor: (i: number) => string): Promise<string[]> {
  const batch = images instanceof torch.Tensor ? toUint8Batch(images) : images;
  const paths: string[] = [];
  for (let i = 0; i < batch.count; i++) {
    const p = pathFor(i);
    writeFileAtomic(p, await encodePng(batch, i));
    paths.push(p);
  }
  return paths;
}
