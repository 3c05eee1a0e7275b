// `d2c data info` (what a dataset holds) and `d2c data grid` (a PNG of real images, one row per class):
// a quick check that the data a model will train on is what one expects. `d2c data emoji` builds
// the colour emoji ImageFolder from npm packages (data/emoji.ts).
import type { Command } from 'commander';
import { classCounts, type ImageSet, imageAt } from '../../data/dataset.ts';
import { buildEmojiDataset, defaultEmojiCache } from '../../data/emoji.ts';
import { FASHION_MNIST_DIR } from '../../data/fashion_mnist.ts';
import { decodeImage } from '../../data/image_folder.ts';
import { DATASETS, type DatasetName, openImageSet } from '../../data/open.ts';
import { saveImageGrid } from '../../data/png.ts';
import { permutation, Rng } from '../../data/rng.ts';
import { UsageError } from '../errors.ts';
import { choiceOption, intOption, positiveInt } from '../options.ts';
import { progressBar } from '../progress.ts';

interface DataOpts {
  dataset: DatasetName;
  data?: string;
  split: 'train' | 'test';
  size: number;
  channels?: 1 | 3;
  count: number;
  seed: number;
}

/** The options every data-reading command shares. */
function dataOptions(cmd: Command): Command {
  return cmd
    .option('--dataset <name>', `dataset (${DATASETS.join(', ')})`, choiceOption('--dataset', DATASETS), 'fashion-mnist')
    .option('--data <dir>', `Fashion-MNIST IDX folder (default ${FASHION_MNIST_DIR}) or ImageFolder root`)
    .option('--split <split>', 'Fashion-MNIST split (train, test)', choiceOption('--split', ['train', 'test'] as const), 'train')
    .option('--size <n>', 'image size for imagefolder/synthetic', positiveInt('--size'), 32)
    .option(
      '--channels <n>',
      'channels for imagefolder/synthetic (1 or 3; default 3 for imagefolder, 1 for synthetic)',
      intOption('--channels', { min: 1, max: 3 }),
    )
    .option('--count <n>', 'synthetic: number of samples', positiveInt('--count'), 1000)
    .option('--seed <n>', 'seed', intOption('--seed', { min: 0 }), 0);
}

async function open(o: DataOpts): Promise<ImageSet> {
  if (o.channels !== undefined && o.channels !== 1 && o.channels !== 3)
    throw new Error(`--channels must be 1 or 3, got "${o.channels}"`);
  return openImageSet({ ...o, warn: (m) => process.stderr.write(`d2c: ${m}\n`) });
}

/** Summary of a set: counts per class and pixel statistics of in-memory sets. */
function summary(set: ImageSet): Record<string, unknown> {
  const counts = classCounts(set);
  const out: Record<string, unknown> = {
    name: set.name,
    samples: set.labels.length,
    size: set.size,
    channels: set.channels,
    classes: set.classes.map((c, i) => ({ index: i, name: c, count: counts[i] })),
  };
  if (set.kind === 'array') {
    let sum = 0;
    let sq = 0;
    for (const v of set.pixels) {
      sum += v;
      sq += v * v;
    }
    const n = set.pixels.length;
    const mean = sum / n;
    out.pixelMean = +(mean / 255).toFixed(4);
    out.pixelStd = +(Math.sqrt(Math.max(sq / n - mean * mean, 0)) / 255).toFixed(4);
  } else {
    const skipped = (set as { skipped?: readonly string[] }).skipped ?? [];
    out.skipped = skipped.length;
  }
  return out;
}

export function register(program: Command): void {
  const data = program.command('data').description('inspect datasets');

  dataOptions(data.command('info').description('print a summary of a dataset (JSON)')).action(async (o: DataOpts) => {
    const set = await open(o);
    process.stdout.write(`${JSON.stringify(summary(set), null, 2)}\n`);
  });

  dataOptions(data.command('grid').description('write a PNG grid of real images, one row per class'))
    .requiredOption('--out <file>', 'output PNG file')
    .option('--per-class <n>', 'images per class (columns)', positiveInt('--per-class'), 8)
    .action(async (o: DataOpts & { out: string; perClass: number }) => {
      const set = await open(o);
      // Seeded choice of samples per class, so the same command gives the same grid.
      const order = permutation(set.labels.length, new Rng(o.seed, 0x67));
      const chosen: number[][] = set.classes.map(() => []);
      for (const i of order) if (chosen[set.labels[i]].length < o.perClass) chosen[set.labels[i]].push(i);
      const { channels: C, size: S } = set;
      const per = C * S * S;
      const pixels = new Uint8Array(set.classes.length * o.perClass * per); // [classes × perClass, C, S, S]; short classes stay black
      for (let k = 0; k < set.classes.length; k++)
        for (let j = 0; j < chosen[k].length; j++) {
          const i = chosen[k][j];
          const img = set.kind === 'array' ? imageAt(set, i) : await decodeImage(set.files[i], S, C);
          pixels.set(img, (k * o.perClass + j) * per);
        }
      const batch = { data: pixels, count: set.classes.length * o.perClass, channels: C, height: S, width: S };
      await saveImageGrid(batch, o.out, { nrow: o.perClass });
      process.stdout.write(
        `${JSON.stringify({ out: o.out, rows: set.classes.length, columns: o.perClass, classes: set.classes })}\n`,
      );
    });

  data
    .command('emoji')
    .description('build the emoji-by-category colour ImageFolder (Noto + Twemoji from npm) with a held-out test split')
    .requiredOption('--out <dir>', 'output folder (gets train/<class>/, test/<class>/ and a README); must be new or empty')
    .option('--cache <dir>', 'where the emoji-datasource packages are installed (once)', defaultEmojiCache())
    .option('--skin-tones', 'keep the skin-tone variants (People & Body becomes about 60 % of the images)', false)
    .action(async (o: { out: string; cache: string; skinTones: boolean }) => {
      const bar = progressBar('emoji');
      let summary: Awaited<ReturnType<typeof buildEmojiDataset>>;
      try {
        summary = await buildEmojiDataset({
          out: o.out,
          cache: o.cache,
          skinTones: o.skinTones,
          log: (m) => process.stderr.write(`d2c: ${m}\n`),
          onProgress: (d, t) => bar.update(d, t),
        });
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      bar.done();
      process.stdout.write(`${JSON.stringify(summary)}\n`);
    });
}
