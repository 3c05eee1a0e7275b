// The ADM / MAR / LlamaGen centre crop (`center_crop_arr` in openai/guided-diffusion
// image_datasets.py, copied into LTH14/mar util/crop.py): halve with a BOX filter while the short
// side is ≥ 2×size, resize with BICUBIC so the short side equals size, then cut the centre square.
// The resampling re-implements Pillow's (libImaging/Resample.c: separable, horizontal pass then
// vertical, 22-bit fixed-point weights, bicubic a = -0.5) so that our crops equal the ones the
// reference models were trained on, byte for byte, without Python.

/** An 8-bit image with interleaved channels: data[(y * width + x) * channels + c]. */
export interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

interface Filter {
  support: number;
  weight(x: number): number;
}

const BOX: Filter = { support: 0.5, weight: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) };
const BICUBIC: Filter = {
  support: 2,
  weight: (x) => {
    const a = -0.5;
    const t = Math.abs(x);
    if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
    if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
    return 0;
  },
};
export type ResampleFilter = 'box' | 'bicubic';
const FILTERS: Record<ResampleFilter, Filter> = { box: BOX, bicubic: BICUBIC };

const PRECISION_BITS = 32 - 8 - 2;

/** Per output index: first input index, tap count, and fixed-point weights (Pillow's precompute_coeffs). */
function coefficients(inSize: number, outSize: number, filter: Filter): { start: Int32Array; count: Int32Array; k: number[][] } {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filter.support * filterScale;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const k: number[][] = [];
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const hi = Math.min(Math.trunc(center + support + 0.5), inSize);
    const w: number[] = [];
    let total = 0;
    for (let x = lo; x < hi; x++) {
      const v = filter.weight((x - center + 0.5) / filterScale);
      w.push(v);
      total += v;
    }
    // Pillow rounds half away from zero when converting to fixed point.
    k.push(w.map((v) => Math.trunc((total !== 0 ? v / total : v) * (1 << PRECISION_BITS) + (v < 0 ? -0.5 : 0.5))));
    start[o] = lo;
    count[o] = hi - lo;
  }
  return { start, count, k };
}

function clip8(acc: number): number {
  if (acc >= 1 << (PRECISION_BITS + 8)) return 255;
  if (acc <= 0) return 0;
  return Math.floor(acc / (1 << PRECISION_BITS));
}

/** Resamples along one axis; `stride` steps between taps (channels for x, width·channels for y). */
function pass(src: RawImage, outW: number, outH: number, horizontal: boolean, filter: Filter): RawImage {
  const { width, height, channels: ch } = src;
  const c = horizontal ? coefficients(width, outW, filter) : coefficients(height, outH, filter);
  const out = new Uint8Array(outW * outH * ch);
  const stride = horizontal ? ch : width * ch;
  const half = 1 << (PRECISION_BITS - 1);
  for (let y = 0; y < outH; y++)
    for (let x = 0; x < outW; x++) {
      const o = horizontal ? x : y;
      const k = c.k[o];
      const base = horizontal ? (y * width + c.start[o]) * ch : (c.start[o] * width + x) * ch;
      for (let z = 0; z < ch; z++) {
        let acc = half;
        for (let t = 0; t < c.count[o]; t++) acc += src.data[base + t * stride + z] * k[t];
        out[(y * outW + x) * ch + z] = clip8(acc);
      }
    }
  return { data: out, width: outW, height: outH, channels: ch };
}

/** Pillow's `Image.resize((w, h), resample)` for 8-bit images. */
export function resize(img: RawImage, width: number, height: number, filter: ResampleFilter): RawImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0)
    throw new Error(`resize: target size must be positive integers, got ${width}×${height}`);
  const f = FILTERS[filter];
  if (!f) throw new Error(`resize: filter must be "box" or "bicubic", got "${filter}"`);
  if (width === img.width && height === img.height) return { ...img, data: img.data.slice() };
  let cur = img;
  if (width !== cur.width) cur = pass(cur, width, cur.height, true, f);
  if (height !== cur.height) cur = pass(cur, cur.width, height, false, f);
  return cur;
}

/** Python's round(): half to even, as ADM's `round(x * scale)`. */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Crops a window of an interleaved image. */
export function crop(img: RawImage, left: number, top: number, width: number, height: number): RawImage {
  if (left < 0 || top < 0 || left + width > img.width || top + height > img.height)
    throw new Error(`crop: window ${width}×${height}+${left}+${top} is outside the ${img.width}×${img.height} image`);
  const ch = img.channels;
  const out = new Uint8Array(width * height * ch);
  for (let y = 0; y < height; y++) {
    const from = ((top + y) * img.width + left) * ch;
    out.set(img.data.subarray(from, from + width * ch), y * width * ch);
  }
  return { data: out, width, height, channels: ch };
}

/** `center_crop_arr(pil_image, image_size)`: a size×size image from any image. */
export function centerCropArr(img: RawImage, size: number): RawImage {
  if (!Number.isInteger(size) || size <= 0) throw new Error(`centerCropArr: size must be a positive integer, got ${size}`);
  let cur = img;
  while (Math.min(cur.width, cur.height) >= 2 * size)
    cur = resize(cur, Math.floor(cur.width / 2), Math.floor(cur.height / 2), 'box');
  const scale = size / Math.min(cur.width, cur.height);
  cur = resize(cur, roundHalfEven(cur.width * scale), roundHalfEven(cur.height * scale), 'bicubic');
  const top = Math.floor((cur.height - size) / 2);
  const left = Math.floor((cur.width - size) / 2);
  return crop(cur, left, top, size, size);
}

/** PIL's convert('L') from RGB: L = R·299/1000 + G·587/1000 + B·114/1000 (ITU-R 601-2), rounded. */
export function rgbToGray(img: RawImage): RawImage {
  if (img.channels !== 3) throw new Error(`rgbToGray: expected 3 channels, got ${img.channels}`);
  const n = img.width * img.height;
  const out = new Uint8Array(n);
  const d = img.data;
  // Pillow's ImagingConvert rgb2l: fixed point (R*19595 + G*38470 + B*7471 + 0x8000) >> 16.
  for (let i = 0; i < n; i++) out[i] = (d[3 * i] * 19595 + d[3 * i + 1] * 38470 + d[3 * i + 2] * 7471 + 0x8000) >>> 16;
  return { data: out, width: img.width, height: img.height, channels: 1 };
}
