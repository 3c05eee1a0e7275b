// A small colour ImageFolder generated on the fly for tests and benchmarks: `root/<class>/<i>.png`
// of mixed sizes, each class its own hue and stripe direction (so a model has something to learn),
// plus, on request, one corrupt PNG and one non-image file as a user's folder may hold.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';

export interface ColourFolderOptions {
  classes?: readonly string[];
  perClass?: number;
  /** Image sides are drawn from this range (inclusive), width and height independently. */
  minSide?: number;
  maxSide?: number;
  /** Add `<first class>/broken.png` (a PNG signature then garbage) and `<first class>/notes.txt`. */
  junk?: boolean;
  seed?: number;
}

const HUES: [number, number, number][] = [
  [220, 40, 40],
  [40, 180, 60],
  [50, 80, 220],
  [230, 200, 40],
  [160, 60, 200],
  [40, 200, 200],
];

/** Writes the folder; returns the paths of the readable images, the corrupt file and the non-image file. */
export async function makeColourFolder(
  root: string,
  o: ColourFolderOptions = {},
): Promise<{ images: string[]; corrupt?: string; other?: string }> {
  const classes = o.classes ?? ['birds', 'cars', 'flowers'];
  const perClass = o.perClass ?? 6;
  const lo = o.minSide ?? 40;
  const hi = o.maxSide ?? 64;
  let s = (o.seed ?? 1) >>> 0;
  const rand = () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32;
  };
  const images: string[] = [];
  for (const [c, name] of classes.entries()) {
    mkdirSync(join(root, name), { recursive: true });
    const [r, g, b] = HUES[c % HUES.length];
    for (let i = 0; i < perClass; i++) {
      const w = lo + Math.floor(rand() * (hi - lo + 1));
      const h = lo + Math.floor(rand() * (hi - lo + 1));
      const px = Buffer.alloc(w * h * 3);
      const period = 6 + (c % 3) * 4;
      const phase = rand() * period;
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) {
          const t = c % 2 === 0 ? x : y; // stripes across or along
          const on = (t + phase) % period < period / 2 ? 1 : 0.35;
          const n = 0.85 + 0.15 * rand();
          const k = (y * w + x) * 3;
          px[k] = Math.round(r * on * n);
          px[k + 1] = Math.round(g * on * n);
          px[k + 2] = Math.round(b * on * n);
        }
      const path = join(root, name, `${String(i).padStart(4, '0')}.png`);
      await sharp(px, { raw: { width: w, height: h, channels: 3 } })
        .png()
        .toFile(path);
      images.push(path);
    }
  }
  if (!o.junk) return { images };
  const corrupt = join(root, classes[0], 'broken.png');
  writeFileSync(corrupt, Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(64, 7)]));
  const other = join(root, classes[0], 'notes.txt');
  writeFileSync(other, 'not an image\n');
  return { images, corrupt, other };
}
