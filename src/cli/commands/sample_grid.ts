// A sample grid with one row per class and the class name left of each row (rendered by sharp
// from SVG text; without any font installed the names are blank but the grid is still written).
import sharp from 'sharp';
import { encodePng, makeGrid, toUint8Batch } from '../../data/png.ts';
import { writeFileAtomic } from '../../io/atomic_file.ts';
import type { Tensor } from '../../torch/index.ts';

const PAD = 2;

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** `images` [labels.length · perRow, C, H, W] in [-1, 1], class by class → one PNG at `path`. */
export async function saveLabelledGrid(
  images: Tensor,
  path: string,
  o: { labels: readonly string[]; perRow: number },
): Promise<void> {
  const batch = toUint8Batch(images);
  if (batch.count !== o.labels.length * o.perRow)
    throw new Error(`saveLabelledGrid: ${batch.count} images for ${o.labels.length} rows of ${o.perRow}`);
  const grid = makeGrid(batch, { nrow: o.perRow, padding: PAD, padValue: 255 });
  const rowH = batch.height + PAD;
  const font = Math.max(9, Math.min(16, Math.floor(batch.height * 0.4)));
  const labelW = Math.ceil(Math.max(...o.labels.map((l) => l.length)) * font * 0.62) + 8;
  const text = o.labels
    .map(
      (l, i) =>
        `<text x="${labelW - 4}" y="${PAD + i * rowH + batch.height / 2 + font * 0.35}" text-anchor="end" ` +
        `font-family="sans-serif" font-size="${font}" fill="#000">${escapeXml(l)}</text>`,
    )
    .join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${labelW}" height="${grid.height}"><rect width="100%" height="100%" fill="#fff"/>${text}</svg>`;
  const channels = grid.channels === 1 ? 1 : 3;
  const labels = await sharp(Buffer.from(svg))
    .flatten({ background: '#fff' })
    .toColourspace(channels === 1 ? 'b-w' : 'srgb')
    .raw()
    .toBuffer();
  const gridPng = await encodePng(grid);
  const canvas = await sharp({ create: { width: labelW + grid.width, height: grid.height, channels: 3, background: '#fff' } })
    .composite([
      { input: labels, raw: { width: labelW, height: grid.height, channels }, left: 0, top: 0 },
      { input: gridPng, left: labelW, top: 0 },
    ])
    .raw()
    .toBuffer({ resolveWithObject: true });
  // The composite comes back with alpha: keep the image's own channels.
  const out = await sharp(canvas.data, {
    raw: { width: canvas.info.width, height: canvas.info.height, channels: canvas.info.channels },
  })
    .removeAlpha()
    .toColourspace(channels === 1 ? 'b-w' : 'srgb')
    .png({ compressionLevel: 9, adaptiveFiltering: false, palette: false })
    .toBuffer();
  writeFileAtomic(path, out);
}
