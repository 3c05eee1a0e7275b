// A synthetic class-conditional image set, generated in code from a seed, for tests and smoke runs:
// class k is a distinct simple pattern (stripes, shapes, checkerboard …) with random position,
// scale, phase and brightness per sample, so a model has to learn the class → pattern mapping and
// some variation, but no download is needed. With 3 channels each class also has its own colour.
import type { ArrayImageSet } from './dataset.ts';
import { Rng } from './rng.ts';

export const SYNTHETIC_CLASSES = [
  'hstripes',
  'vstripes',
  'diagonal',
  'disc',
  'square',
  'cross',
  'checker',
  'triangle',
  'ring',
  'dots',
] as const;

/** Per-class base colours (RGB) used when channels = 3. */
const COLOURS: [number, number, number][] = [
  [230, 60, 60],
  [60, 200, 60],
  [70, 90, 240],
  [240, 210, 50],
  [200, 70, 220],
  [50, 210, 220],
  [245, 140, 40],
  [150, 150, 150],
  [140, 90, 40],
  [250, 250, 250],
];

export interface SyntheticOptions {
  /** Number of samples (labels cycle 0..numClasses-1, so classes are balanced). */
  count: number;
  seed: number;
  /** Image side (default 32). */
  size?: number;
  /** 1 or 3 (default 1). */
  channels?: 1 | 3;
  /** 1..10 (default 10). */
  numClasses?: number;
}

/** Random parameters of one sample, in units of the image side. */
interface Params {
  cx: number;
  cy: number;
  r: number;
  period: number;
  phase: number;
  level: number;
}

/** Is pixel (x, y) (in [0,1)² coordinates) on for class k? */
function on(k: number, x: number, y: number, p: Params): boolean {
  const dx = x - p.cx;
  const dy = y - p.cy;
  const wave = (v: number) => (((v / p.period + p.phase) % 1) + 1) % 1 < 0.5;
  switch (k) {
    case 0:
      return wave(y);
    case 1:
      return wave(x);
    case 2:
      return wave((x + y) / Math.SQRT2);
    case 3:
      return dx * dx + dy * dy <= p.r * p.r;
    case 4:
      return Math.max(Math.abs(dx), Math.abs(dy)) <= p.r && Math.max(Math.abs(dx), Math.abs(dy)) >= p.r * 0.6;
    case 5:
      return (Math.abs(dx) <= p.r * 0.25 && Math.abs(dy) <= p.r) || (Math.abs(dy) <= p.r * 0.25 && Math.abs(dx) <= p.r);
    case 6:
      return wave(x) !== wave(y);
    case 7:
      return dy <= p.r * 0.8 && dy >= -p.r && Math.abs(dx) <= (dy + p.r) * 0.55;
    case 8: {
      const d = Math.sqrt(dx * dx + dy * dy);
      return d <= p.r && d >= p.r * 0.55;
    }
    case 9: {
      const s = p.r * 0.5;
      return (dx + s) ** 2 + dy * dy <= (s * 0.6) ** 2 || (dx - s) ** 2 + dy * dy <= (s * 0.6) ** 2;
    }
    default:
      throw new Error(`synthetic: no pattern for class ${k}`);
  }
}

/** Generates the set; the same options give the same bytes. */
export function syntheticImageSet(opts: SyntheticOptions): ArrayImageSet {
  const { count, seed } = opts;
  const size = opts.size ?? 32;
  const channels = opts.channels ?? 1;
  const numClasses = opts.numClasses ?? SYNTHETIC_CLASSES.length;
  if (!Number.isInteger(count) || count <= 0) throw new Error(`synthetic: count must be a positive integer, got ${count}`);
  if (!Number.isInteger(size) || size < 8) throw new Error(`synthetic: size must be an integer ≥ 8, got ${size}`);
  if (channels !== 1 && channels !== 3) throw new Error(`synthetic: channels must be 1 or 3, got ${channels}`);
  if (!Number.isInteger(numClasses) || numClasses < 1 || numClasses > SYNTHETIC_CLASSES.length)
    throw new Error(`synthetic: numClasses must be in 1..${SYNTHETIC_CLASSES.length}, got ${numClasses}`);
  const plane = size * size;
  const pixels = new Uint8Array(count * channels * plane);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const k = i % numClasses;
    labels[i] = k;
    const rng = new Rng(seed, i);
    const p: Params = {
      cx: rng.uniform(0.4, 0.6),
      cy: rng.uniform(0.4, 0.6),
      r: rng.uniform(0.22, 0.34),
      period: rng.uniform(0.18, 0.3),
      phase: rng.float(),
      level: rng.uniform(0.75, 1),
    };
    const colour = channels === 3 ? COLOURS[k] : [255];
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) {
        if (!on(k, (x + 0.5) / size, (y + 0.5) / size, p)) continue;
        for (let c = 0; c < channels; c++) pixels[((i * channels + c) * size + y) * size + x] = Math.round(colour[c] * p.level);
      }
  }
  return {
    kind: 'array',
    name: `synthetic(seed=${seed})`,
    classes: SYNTHETIC_CLASSES.slice(0, numClasses),
    channels,
    size,
    labels,
    pixels,
  };
}
