// ImageFolder: the PIL-exact centre crop, and scanning/decoding real files made with sharp in a temp
// folder — corrupt and truncated files, an empty class folder, grayscale and CMYK JPEGs, alpha PNGs.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { centerCropArr, rgbToGray } from '../src/data/center_crop.ts';
import { decodeImage, scanImageFolder } from '../src/data/image_folder.ts';
import { DataLoader } from '../src/data/loader.ts';

const FIXTURE = new URL('./fixtures/data/center_crop.json', import.meta.url);

function lcgBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

describe('center_crop_arr', () => {
  const fx = JSON.parse(readFileSync(FIXTURE, 'utf8')) as {
    cases: { width: number; height: number; channels: number; size: number; seed: number; output: string; gray?: string }[];
  };
  for (const c of fx.cases)
    test(`${c.width}×${c.height}×${c.channels} → ${c.size} equals PIL byte for byte`, () => {
      const data = lcgBytes(c.width * c.height * c.channels, c.seed);
      const img = { data, width: c.width, height: c.height, channels: c.channels };
      const out = centerCropArr(img, c.size);
      assert.equal(out.width, c.size);
      assert.equal(out.height, c.size);
      assert.deepEqual(Buffer.from(out.data), Buffer.from(c.output, 'base64'));
      if (c.gray) assert.deepEqual(Buffer.from(rgbToGray(img).data), Buffer.from(c.gray, 'base64'));
    });
});

describe('ImageFolder on generated files', () => {
  let root = '';
  const warnings: string[] = [];
  const solid = (w: number, h: number, rgb: [number, number, number]) =>
    sharp({ create: { width: w, height: h, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } });

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'd2c-imgfolder-'));
    for (const c of ['zebra', 'apple', 'empty', 'mango']) mkdirSync(join(root, c));
    // apple: an RGB JPEG wider than tall, a grayscale JPEG, a PNG with alpha.
    await solid(80, 40, [200, 30, 40])
      .jpeg({ quality: 95 })
      .toFile(join(root, 'apple', 'a.jpg'));
    await solid(50, 50, [90, 90, 90])
      .toColourspace('b-w')
      .jpeg({ quality: 95 })
      .toFile(join(root, 'apple', 'gray.jpg'));
    await sharp({ create: { width: 40, height: 40, channels: 4, background: { r: 10, g: 200, b: 30, alpha: 0.5 } } })
      .png()
      .toFile(join(root, 'apple', 'alpha.png'));
    // mango: a CMYK JPEG of pure-ish red, and a WebP.
    await solid(64, 48, [220, 20, 20])
      .toColourspace('cmyk')
      .jpeg({ quality: 95 })
      .toFile(join(root, 'mango', 'cmyk.jpg'));
    await solid(32, 32, [20, 20, 220])
      .webp({ lossless: true })
      .toFile(join(root, 'mango', 'b.webp'));
    // zebra: one good file, one that is not an image at all, and a text file that is ignored.
    await solid(40, 40, [255, 255, 255])
      .png()
      .toFile(join(root, 'zebra', 'w.png'));
    writeFileSync(join(root, 'zebra', 'broken.jpg'), lcgBytes(500, 7));
    writeFileSync(join(root, 'zebra', 'notes.txt'), 'not an image');
    writeFileSync(join(root, 'empty', 'readme.md'), 'no images here');
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  test('an empty class folder is an error naming it', async () => {
    await assert.rejects(
      scanImageFolder(root, { size: 16, channels: 3, warn: () => {} }),
      /no readable images in .*: empty \(supported/,
    );
  });

  test('corrupt files are skipped with a warning naming them; classes are sorted; class map returned', async () => {
    rmSync(join(root, 'empty'), { recursive: true });
    const set = await scanImageFolder(root, { size: 16, channels: 3, warn: (m) => warnings.push(m) });
    assert.deepEqual(set.classes, ['apple', 'mango', 'zebra']);
    assert.deepEqual(set.classToIndex, { apple: 0, mango: 1, zebra: 2 });
    assert.equal(set.files.length, 6);
    assert.deepEqual([...set.labels], [0, 0, 0, 1, 1, 2]);
    assert.deepEqual(set.skipped, [join(root, 'zebra', 'broken.jpg')]);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /skipping unreadable image .*zebra\/broken\.jpg/);
  });

  test('onCorrupt "error" fails and names the file', async () => {
    await assert.rejects(
      scanImageFolder(root, { size: 16, channels: 3, onCorrupt: 'error' }),
      /unreadable image.*zebra\/broken\.jpg/s,
    );
  });

  test('a missing root names the expected layout', async () => {
    await assert.rejects(
      scanImageFolder(join(root, 'nope'), { size: 16, channels: 3 }),
      /is not a folder \(expected .*<class>\/<image>\)/,
    );
  });

  test('grayscale, CMYK, alpha and WebP decode to the right colours, 1 or 3 channels', async () => {
    const mean = (px: Uint8Array, c: number, C: number) => {
      const plane = px.length / C;
      let s = 0;
      for (let i = 0; i < plane; i++) s += px[c * plane + i];
      return s / plane;
    };
    const gray3 = await decodeImage(join(root, 'apple', 'gray.jpg'), 16, 3);
    assert.equal(gray3.length, 3 * 256);
    for (let c = 0; c < 3; c++) assert.ok(Math.abs(mean(gray3, c, 3) - 90) <= 2, `gray channel ${c}: ${mean(gray3, c, 3)}`);
    const cmyk = await decodeImage(join(root, 'mango', 'cmyk.jpg'), 16, 3);
    const [r, g, b] = [0, 1, 2].map((c) => mean(cmyk, c, 3));
    // An ICC round trip through CMYK is not exact, but red must stay clearly red.
    assert.ok(r > 180 && g < 70 && b < 70, `CMYK red decoded to ${r}, ${g}, ${b}`);
    const alpha = await decodeImage(join(root, 'apple', 'alpha.png'), 16, 3);
    assert.deepEqual(
      [0, 1, 2].map((c) => Math.round(mean(alpha, c, 3))),
      [10, 200, 30],
    );
    const webp1 = await decodeImage(join(root, 'mango', 'b.webp'), 8, 1);
    assert.equal(webp1.length, 64);
    // PIL luma of (20, 20, 220): (20·19595 + 20·38470 + 220·7471 + 32768) >> 16 = 43.
    assert.ok(webp1.every((v) => v === 43));
  });

  test('the loader decodes in worker threads and replaces a file that fails late with one of its class', async () => {
    // Truncated after the header: the scan accepts it, full decoding fails.
    const noise = await sharp(Buffer.from(lcgBytes(128 * 128 * 3, 3)), { raw: { width: 128, height: 128, channels: 3 } })
      .jpeg({ quality: 95 })
      .toBuffer();
    writeFileSync(join(root, 'zebra', 'cut.jpg'), noise.subarray(0, Math.floor(noise.length * 0.6)));
    const lateWarnings: string[] = [];
    const set = await scanImageFolder(root, { size: 16, channels: 3, warn: () => {} });
    assert.ok(set.files.some((f) => f.endsWith('cut.jpg')));
    const loader = new DataLoader(set, {
      batchSize: set.files.length,
      seed: 1,
      shuffle: false,
      workers: 2,
      warn: (m) => lateWarnings.push(m),
    });
    try {
      const batch = await loader.next();
      assert.deepEqual(batch.images.shape, [set.files.length, 3, 16, 16]);
      assert.deepEqual(batch.labels.toArray(), Array.from(set.labels));
      assert.equal(lateWarnings.length, 1);
      assert.match(lateWarnings[0], /cut\.jpg/);
      // cut.jpg (zebra) was replaced by the white zebra image: all ones.
      const k = set.files.findIndex((f) => f.endsWith('cut.jpg'));
      const img = batch.images.select(0, k);
      assert.equal(img.min().item(), 1);
      img.dispose();
      batch.images.dispose();
      batch.labels.dispose();
    } finally {
      await loader.close();
      rmSync(join(root, 'zebra', 'cut.jpg'));
    }
  });
});
