// Uint8 image batches → grids and PNG bytes, without libtorch: the server's HTTP thread encodes
// here what its model worker sampled. Layout follows torchvision's `make_grid`; PNG bytes come from
// sharp with fixed settings and no metadata, so the same pixels always give the same file.
import sharp from 'sharp';

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
