// The emoji dataset: the freely licensed Noto (Google, Apache-2.0) and Twemoji (Twitter, CC-BY-4.0)
// 64×64 PNGs of the `emoji-datasource-*` npm packages, one class per Unicode category, composited on
// white and written as an ImageFolder with a held-out test split (DIR/train/<class>, DIR/test/<class>).
// The packages are installed on demand into a cache folder, never as dependencies of d2c; the Apple
// and Facebook images of the sibling packages are not freely licensed and are never read.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import sharp from 'sharp';
import { writeFileAtomic } from '../io/atomic_file.ts';
import { readJsonFile } from '../io/json_file.ts';
import { mapLimit } from './image_folder.ts';

export const EMOJI_VENDORS = ['google', 'twitter'] as const;
export type EmojiVendor = (typeof EMOJI_VENDORS)[number];
export const EMOJI_PACKAGE_VERSION = '16';

/** Unicode category → class folder (short, so that `--class food` reads well). "Component" is left out. */
export const EMOJI_CLASSES: Readonly<Record<string, string>> = {
  'Smileys & Emotion': 'smileys',
  'People & Body': 'people',
  'Animals & Nature': 'animals',
  'Food & Drink': 'food',
  'Travel & Places': 'travel',
  Activities: 'activities',
  Objects: 'objects',
  Symbols: 'symbols',
  Flags: 'flags',
};

const LICENCES: Record<EmojiVendor, string> = {
  google:
    '**Noto Emoji** (`google_*`), © Google Inc., under the [Apache License 2.0](https://github.com/googlefonts/noto-emoji/blob/main/LICENSE), from the npm package `emoji-datasource-google`.',
  twitter:
    '**Twemoji** (`twitter_*`), © Twitter, Inc. and other contributors, under [CC-BY 4.0](https://creativecommons.org/licenses/by/4.0/) ([graphics licence](https://github.com/jdecked/twemoji/blob/main/LICENSE-GRAPHICS)), from the npm package `emoji-datasource-twitter`. Images were composited on white and are otherwise unchanged.',
};

/** Percentage of emoji (by image file name, both vendors together) held out as the test split. */
export const EMOJI_TEST_PERCENT = 10;

export interface EmojiEntry {
  readonly vendor: EmojiVendor;
  /** Image file name in img/<vendor>/64/, e.g. 1f600.png; the same for both vendors. */
  readonly image: string;
  readonly className: string;
  readonly skinTone: boolean;
}

/** Default folder the packages are installed into: $XDG_CACHE_HOME/d2c/emoji (else ~/.cache/d2c/emoji). */
export function defaultEmojiCache(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'd2c', 'emoji');
}

function packageDir(cache: string, vendor: EmojiVendor): string {
  return join(cache, 'node_modules', `emoji-datasource-${vendor}`);
}

/** Installs the packages into `cache` unless they are there; returns the cache folder. */
export function ensureEmojiPackages(cache: string, log: (m: string) => void = () => {}): string {
  const missing = EMOJI_VENDORS.filter((v) => !existsSync(join(packageDir(cache, v), 'emoji.json')));
  if (missing.length === 0) return cache;
  const specs = missing.map((v) => `emoji-datasource-${v}@${EMOJI_PACKAGE_VERSION}`);
  log(`installing ${specs.join(' ')} into ${cache} (about 300 MB unpacked; once)`);
  mkdirSync(cache, { recursive: true });
  // A package.json of its own, so npm installs here and not into an enclosing project.
  if (!existsSync(join(cache, 'package.json')))
    writeFileAtomic(join(cache, 'package.json'), `${JSON.stringify({ name: 'd2c-emoji-cache', private: true })}\n`);
  const r = spawnSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--ignore-scripts', ...specs], {
    cwd: cache,
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
  });
  if (r.error) throw new Error(`could not run npm to install ${specs.join(' ')}: ${r.error.message}`);
  if (r.status !== 0)
    throw new Error(`npm install ${specs.join(' ')} failed (exit ${r.status}) in ${cache}:\n${r.stderr.trim().slice(-2000)}`);
  return cache;
}

interface RawEmoji {
  image?: string;
  category?: string;
  skin_variations?: Record<string, RawEmoji>;
  [hasImg: string]: unknown;
}

/** The emoji of one vendor's package that have an image, with their class. */
export function readEmojiEntries(cache: string, vendor: EmojiVendor, skinTones: boolean): EmojiEntry[] {
  const path = join(packageDir(cache, vendor), 'emoji.json');
  let list: RawEmoji[];
  try {
    list = readJsonFile(path) as RawEmoji[];
  } catch (e) {
    throw new Error(`cannot read the emoji list: ${(e as Error).message}`);
  }
  if (!Array.isArray(list)) throw new Error(`${path}: expected a JSON array of emoji`);
  const out: EmojiEntry[] = [];
  const add = (e: RawEmoji, category: string | undefined, skinTone: boolean) => {
    const className = category ? EMOJI_CLASSES[category] : undefined;
    if (className && e[`has_img_${vendor}`] === true && typeof e.image === 'string')
      out.push({ vendor, image: e.image, className, skinTone });
  };
  for (const e of list) {
    add(e, e.category, false);
    if (skinTones) for (const v of Object.values(e.skin_variations ?? {})) add(v, e.category, true);
  }
  return out;
}

/** Whether an emoji image is in the test split: a hash of its file name, so both vendors' drawings of it go together. */
export function isEmojiTest(image: string): boolean {
  return createHash('sha256').update(image).digest().readUInt32BE(0) % 100 < EMOJI_TEST_PERCENT;
}

export interface BuildEmojiOptions {
  /** Output folder; must not exist or be empty. */
  out: string;
  /** Folder with node_modules/emoji-datasource-{google,twitter} (installed there when missing). */
  cache?: string;
  /** Keep the skin-tone variants (default false: they make People & Body about 60 % of the images). */
  skinTones?: boolean;
  log?: (m: string) => void;
  onProgress?: (done: number, total: number) => void;
}

export interface EmojiDatasetSummary {
  out: string;
  classes: string[];
  counts: Record<'train' | 'test', Record<string, number>>;
  total: number;
}

/** Builds the ImageFolder; written under OUT.partial and renamed into place when complete. */
export async function buildEmojiDataset(o: BuildEmojiOptions): Promise<EmojiDatasetSummary> {
  const out = resolve(o.out);
  if (existsSync(out) && readdirSync(out).length > 0)
    throw new Error(`${out} already exists and is not empty: choose a new --out (nothing was changed)`);
  const cache = ensureEmojiPackages(o.cache ?? defaultEmojiCache(), o.log);
  const entries = EMOJI_VENDORS.flatMap((v) => readEmojiEntries(cache, v, o.skinTones ?? false));
  if (entries.length === 0) throw new Error(`no emoji images found in ${cache}`);
  const classes = [...new Set(entries.map((e) => e.className))].sort(); // the ImageFolder's classes
  const counts = { train: {} as Record<string, number>, test: {} as Record<string, number> };
  for (const split of ['train', 'test'] as const) for (const c of classes) counts[split][c] = 0;

  const partial = `${out}.partial`;
  rmSync(partial, { recursive: true, force: true });
  // Only folders that get images: an empty class folder is not a valid ImageFolder class.
  const placed = entries.map((e) => ({ ...e, split: isEmojiTest(e.image) ? ('test' as const) : ('train' as const) }));
  for (const folder of new Set(placed.map((e) => join(partial, e.split, e.className)))) mkdirSync(folder, { recursive: true });
  let done = 0;
  const work = async ({ split, ...e }: (typeof placed)[number]) => {
    const src = join(packageDir(cache, e.vendor), 'img', e.vendor, '64', e.image);
    const dst = join(partial, split, e.className, `${e.vendor}_${e.image}`);
    try {
      await sharp(src)
        .flatten({ background: { r: 255, g: 255, b: 255 } })
        .png()
        .toFile(dst);
    } catch (err) {
      throw new Error(`${src}: ${(err as Error).message}`);
    }
    counts[split][e.className]++;
    o.onProgress?.(++done, entries.length);
  };
  await mapLimit(placed, 8, work);
  writeFileAtomic(join(partial, 'README.md'), datasetReadme(classes, counts, o.skinTones ?? false));
  mkdirSync(dirname(out), { recursive: true });
  rmSync(out, { recursive: true, force: true }); // only an empty folder gets here
  renameSync(partial, out);
  return { out, classes, counts, total: entries.length };
}

function datasetReadme(classes: string[], counts: EmojiDatasetSummary['counts'], skinTones: boolean): string {
  const category = Object.fromEntries(Object.entries(EMOJI_CLASSES).map(([k, v]) => [v, k]));
  const rows = classes.map((c) => `| ${c} | ${category[c]} | ${counts.train[c]} | ${counts.test[c]} |`);
  const sum = (s: 'train' | 'test') => Object.values(counts[s]).reduce((a, b) => a + b, 0);
  return `# Emoji by category

Built by \`d2c data emoji\`${skinTones ? ' --skin-tones' : ''}: the 64×64 PNGs of \`emoji-datasource-google@${EMOJI_PACKAGE_VERSION}\` and
\`emoji-datasource-twitter@${EMOJI_PACKAGE_VERSION}\`, composited on a white background, one folder per Unicode category
("Component" left out). ${skinTones ? 'Skin-tone variants are included.' : 'Skin-tone variants are left out: they are recolourings of the same drawings and would make People & Body about 60 % of the images.'}
An emoji is in \`test/\` when the first four bytes of the SHA-256 of its image file name, mod 100, are below
${EMOJI_TEST_PERCENT}; both vendors' drawings of one emoji are always in the same split.

| class | Unicode category | train | test |
| --- | --- | ---: | ---: |
${rows.join('\n')}
| all | | ${sum('train')} | ${sum('test')} |

## Licences and attribution

- ${LICENCES.google}
- ${LICENCES.twitter}
- The emoji list and categories come from [iamcal/emoji-data](https://github.com/iamcal/emoji-data) (MIT, © Cal Henderson).
`;
}
