// `d2c data emoji` on a fake package folder (no network): classes by category, "Component" and
// vendor-less entries left out, skin tones only on request, RGBA composited on white, a split by a
// hash of the file name shared by both vendors, a README with counts and licences, and an existing
// output never touched. Then `d2c train classifier --data` on the folder it wrote.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { buildEmojiDataset, EMOJI_VENDORS, isEmojiTest } from '../src/data/emoji.ts';

const ROOT = new URL('..', import.meta.url).pathname;

/** One emoji.json entry with an image for both vendors unless `only` says otherwise. */
function entry(image: string, category: string, o: { only?: string; skin?: string[] } = {}) {
  const has = Object.fromEntries(EMOJI_VENDORS.map((v) => [`has_img_${v}`, !o.only || o.only === v]));
  const skin = o.skin ? { skin_variations: Object.fromEntries(o.skin.map((s) => [s, { image: s, ...has }])) } : {};
  return { image, category, has_img_apple: true, ...has, ...skin };
}

// 24 emoji over three classes, one Component, one Google-only, one with two skin tones.
const ENTRIES = [
  ...Array.from({ length: 10 }, (_, i) => entry(`1f60${i}.png`, 'Smileys & Emotion')),
  ...Array.from({ length: 10 }, (_, i) => entry(`1f34${i}.png`, 'Food & Drink')),
  entry('1f44b.png', 'People & Body', { skin: ['1f44b-1f3fb.png', '1f44b-1f3fc.png'] }),
  entry('1f9b0.png', 'Component'),
  entry('1f4a9.png', 'Smileys & Emotion', { only: 'google' }),
];

async function fakePackages(cache: string): Promise<void> {
  for (const v of EMOJI_VENDORS) {
    const dir = join(cache, 'node_modules', `emoji-datasource-${v}`);
    mkdirSync(join(dir, 'img', v, '64'), { recursive: true });
    writeFileSync(join(dir, 'emoji.json'), JSON.stringify(ENTRIES));
    const images = ENTRIES.flatMap((e) => [e.image, ...Object.values(e.skin_variations ?? {}).map((s) => s.image)]);
    for (const [i, name] of images.entries()) {
      // A red disc on a transparent square: alpha 0 outside.
      const px = Buffer.alloc(64 * 64 * 4);
      for (let y = 0; y < 64; y++)
        for (let x = 0; x < 64; x++)
          if ((x - 32) ** 2 + (y - 32) ** 2 < 400) px.set([200, 20 + i, v === 'google' ? 30 : 90, 255], (y * 64 + x) * 4);
      await sharp(px, { raw: { width: 64, height: 64, channels: 4 } })
        .png()
        .toFile(join(dir, 'img', v, '64', name));
    }
  }
}

test('data emoji: an ImageFolder by category with a hashed test split, on white, with a README', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'd2c-emoji-'));
  try {
    const cache = join(tmp, 'cache');
    await fakePackages(cache);
    const out = join(tmp, 'emoji');
    const s = await buildEmojiDataset({ out, cache });
    assert.deepEqual(s.classes, ['food', 'people', 'smileys'], 'the categories that have images, Component left out');
    // 10 smileys × 2 vendors + the Google-only one; 10 food × 2; the waving hand without its tones × 2.
    const count = (c: string) => s.counts.train[c] + s.counts.test[c];
    assert.equal(count('smileys'), 21);
    assert.equal(count('food'), 20);
    assert.equal(count('people'), 2);
    assert.equal(s.total, 43);
    for (const split of ['train', 'test'] as const)
      for (const c of s.classes) {
        const dir = join(out, split, c);
        assert.equal(existsSync(dir) ? readdirSync(dir).length : 0, s.counts[split][c], `${split}/${c}`);
        assert.equal(existsSync(dir), s.counts[split][c] > 0, `${split}/${c}: a folder only when it has images`);
      }
    // Both vendors of one emoji share a split, decided by the file name.
    for (const e of ENTRIES.filter((x) => x.category === 'Food & Drink')) {
      const split = isEmojiTest(e.image) ? 'test' : 'train';
      for (const v of EMOJI_VENDORS) assert.ok(existsSync(join(out, split, 'food', `${v}_${e.image}`)), `${v} ${e.image}`);
    }
    assert.ok(s.counts.test.food + s.counts.test.smileys > 0 && s.counts.train.food > 0, 'both splits are used');
    // Composited on white: a corner (transparent in the package) is white, the disc is red.
    const file = join(out, isEmojiTest('1f600.png') ? 'test' : 'train', 'smileys', 'google_1f600.png');
    const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
    assert.equal(info.channels, 3);
    assert.deepEqual([...data.subarray(0, 3)], [255, 255, 255]);
    const mid = (32 * 64 + 32) * 3;
    assert.deepEqual([...data.subarray(mid, mid + 3)], [200, 20, 30]);
    const readme = readFileSync(join(out, 'README.md'), 'utf8');
    assert.match(readme, /\| food \| Food & Drink \| \d+ \| \d+ \|/);
    assert.match(readme, /Apache License 2\.0/);
    assert.match(readme, /CC-BY 4\.0/);
    assert.ok(!existsSync(`${out}.partial`));

    // An existing, non-empty output is refused and left as it was.
    await assert.rejects(buildEmojiDataset({ out, cache }), /already exists and is not empty/);
    assert.equal(readFileSync(join(out, 'README.md'), 'utf8'), readme);

    // --skin-tones adds the variants to their emoji's class.
    const withTones = await buildEmojiDataset({ out: join(tmp, 'tones'), cache, skinTones: true });
    assert.equal(withTones.counts.train.people + withTones.counts.test.people, 6);

    // The classifier trains on the folder through the CLI, named after it, and records its held-out accuracy.
    const clf = join(tmp, 'clf');
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli/main.ts',
        'train',
        'classifier',
        '--data',
        out,
        '--out',
        clf,
        '--epochs',
        '2',
        '--batch-size',
        '8',
        '--threads',
        '1',
      ],
      { cwd: ROOT, encoding: 'utf8', timeout: 300_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    const cfg = JSON.parse(readFileSync(join(clf, 'config.json'), 'utf8'));
    assert.equal(cfg.name, 'emoji');
    assert.deepEqual(cfg.classes, s.classes);
    assert.equal(cfg.config.inChannels, 3);
    assert.equal(cfg.config.numClasses, 3);
    assert.equal(cfg.preset, 'colour_cnn');
    assert.equal(typeof cfg.training.testAccuracy, 'number');
    assert.equal(
      cfg.training.testImages,
      Object.values(s.counts.test).reduce((a, b) => a + b, 0),
    );
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
