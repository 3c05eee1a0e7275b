// `d2c recon --tokenizer DIR`: a tokenizer's reconstruction quality on Fashion-MNIST — PSNR,
// rFID-FMNIST (reconstructions against the originals, in the classifier's features) and, for VQ,
// the codebook usage over the whole set — and a grid of originals above reconstructions. On an
// ImageFolder (`--dataset imagefolder --data DIR`), PSNR and codebook usage: the FMNIST feature
// network has no features for other images, so no rFID.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { ArrayImageSet } from '../../data/dataset.ts';
import { FASHION_MNIST_DIR, loadFashionMnist } from '../../data/fashion_mnist.ts';
import { DataLoader } from '../../data/loader.ts';
import { openImageSet } from '../../data/open.ts';
import { saveImageGrid } from '../../data/png.ts';
import { embed, uint8ToUnit } from '../../eval/feature_network.ts';
import {
  classifierFeatureNetwork,
  classifierName,
  DEFAULT_CLASSIFIER_DIR,
  loadClassifier,
} from '../../eval/fmnist_classifier.ts';
import { featureStats, frechetDistance } from '../../eval/frechet.ts';
import { writeFileAtomic } from '../../io/atomic_file.ts';
import { loadPart, type PartConfig } from '../../pipeline/parts.ts';
import { AutoencoderKL } from '../../tokenizers/kl.ts';
import { VQModel } from '../../tokenizers/vq.ts';
import type { Tensor } from '../../torch/index.ts';
import * as torch from '../../torch/index.ts';
import { tokenizerChannels, tokenizerImageSize } from '../../train/infer.ts';
import { deviceOption, runDevice } from '../device_options.ts';
import { UsageError } from '../errors.ts';
import { choiceOption, intOption, positiveInt } from '../options.ts';

function batchOf(set: ArrayImageSet, s: number, e: number): Tensor {
  const per = set.channels * set.size * set.size;
  return uint8ToUnit(torch.fromBuffer(set.pixels.slice(s * per, e * per), [e - s, set.channels, set.size, set.size], 'uint8'));
}

/** PSNR and codebook usage over the first `o.n` images of an ImageFolder, decoded by the loader. */
async function reconFolder(
  o: { tokenizer: string; data: string; size?: number; n: number; out?: string },
  config: PartConfig,
  model: VQModel | AutoencoderKL,
  recon: (x: Tensor) => Tensor,
  used: Uint8Array,
): Promise<void> {
  if (o.data === FASHION_MNIST_DIR)
    throw new UsageError('--dataset imagefolder needs --data DIR (a folder of DIR/<class>/<image>)');
  const set = await openImageSet({
    dataset: 'imagefolder',
    data: o.data,
    size: o.size ?? tokenizerImageSize(config) ?? 32,
    channels: tokenizerChannels(config),
  });
  const n = Math.min(o.n, set.labels.length);
  const loader = new DataLoader(set, { batchSize: Math.min(100, n), seed: 0, shuffle: false, dropLast: false });
  let sqErr = 0;
  let done = 0;
  let grid: Tensor | null = null;
  try {
    while (done < n) {
      const b = await loader.next();
      const k = Math.min(b.images.shape[0], n - done);
      torch.noGrad(() =>
        torch.tidy(() => {
          const x = b.images.narrow(0, 0, k);
          const r = recon(x);
          sqErr += r.sub(x).square().sum().item();
          if (!grid) {
            const m = Math.min(16, k);
            grid = torch.keep(torch.cat([x.narrow(0, 0, m), r.narrow(0, 0, m)], 0));
          }
        }),
      );
      torch.dispose([b.images, b.labels]);
      done += k;
    }
  } finally {
    await loader.close();
  }
  const report = {
    tokenizer: o.tokenizer,
    kind: config.kind,
    preset: config.preset,
    dataset: set.name,
    n,
    psnr: 10 * Math.log10(4 / (sqErr / (n * set.channels * set.size * set.size))),
    ...(model instanceof VQModel
      ? { codebook_usage: used.reduce((a, b) => a + b, 0) / used.length, codebook_size: used.length }
      : {}),
    command: `d2c ${process.argv.slice(2).join(' ')}`,
  };
  if (o.out) {
    mkdirSync(o.out, { recursive: true });
    writeFileAtomic(join(o.out, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
    if (grid) await saveImageGrid(grid, join(o.out, 'recon.png'), { nrow: (grid as Tensor).shape[0] / 2 });
  }
  torch.dispose(grid ? [grid] : []);
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

export function register(program: Command): void {
  deviceOption(program.command('recon'))
    .description(
      'reconstruction PSNR, rFID-FMNIST and (VQ) codebook usage of a tokenizer on Fashion-MNIST (or PSNR and usage on an ImageFolder)',
    )
    .requiredOption('--tokenizer <dir>', 'VQ or KL tokenizer checkpoint / part folder')
    .option('--split <split>', 'Fashion-MNIST split', choiceOption('--split', ['train', 'test'] as const), 'test')
    .option('--n <n>', 'images (the first n of the split)', intOption('--n', { min: 2 }), 10000)
    .option('--data <dir>', 'Fashion-MNIST folder, or the ImageFolder root with --dataset imagefolder', FASHION_MNIST_DIR)
    .option(
      '--dataset <name>',
      'fashion-mnist or imagefolder',
      choiceOption('--dataset', ['fashion-mnist', 'imagefolder'] as const),
      'fashion-mnist',
    )
    .option('--size <n>', 'imagefolder: image side (default: the size the tokenizer was trained on)', positiveInt('--size'))
    .option('--classifier <dir>', 'feature network checkpoint', DEFAULT_CLASSIFIER_DIR)
    .option('--out <dir>', 'where report.json and recon.png go')
    .option('--threads <n>', 'intra-op threads', positiveInt('--threads'), 2)
    .action(async (o) => {
      torch.setNumThreads(o.threads);
      const device = runDevice(o.device);
      const { model, config } = loadPart(o.tokenizer, { device });
      if (!(model instanceof VQModel) && !(model instanceof AutoencoderKL))
        throw new Error(`--tokenizer ${o.tokenizer} holds a ${config.kind} model`);
      const used = new Uint8Array(model instanceof VQModel ? model.config.codebookSize : 0);
      // images come from and go back to the host: the metrics run there
      const recon = (host: Tensor) => {
        const x = device === 'cpu' ? host : host.to(device);
        let r: Tensor;
        if (model instanceof VQModel) {
          const codes = model.encodeCodes(x);
          for (const c of codes.toArray()) used[c] = 1;
          r = model.decodeCodes(codes).clamp(-1, 1);
        } else r = model.decode(model.encode(x).mode()).clamp(-1, 1);
        return device === 'cpu' ? r : r.cpu();
      };
      if (o.dataset === 'imagefolder') {
        await reconFolder(o, config, model, recon, used);
        return;
      }
      const set = loadFashionMnist(o.split, { dir: o.data });
      const n = Math.min(o.n, set.labels.length);
      const bs = 500;
      let sqErr = 0;
      const c = loadClassifier(o.classifier);
      const net = classifierFeatureNetwork(c.model, classifierName(c.info));
      const real = embed(net, n, (s, e) => batchOf(set, s, e), { batchSize: bs });
      const fake = embed(
        net,
        n,
        (s, e) => {
          const x = batchOf(set, s, e);
          const r = recon(x);
          sqErr += r.sub(x).square().sum().item();
          return r;
        },
        { batchSize: bs },
      );
      const mse = sqErr / (n * set.channels * set.size * set.size);
      const report = {
        tokenizer: o.tokenizer,
        kind: config.kind,
        preset: config.preset,
        split: o.split,
        n,
        psnr: 10 * Math.log10(4 / mse), // images in [-1, 1]: peak-to-peak 2
        rfid_fmnist: torch.tidy(() => frechetDistance(featureStats(real.features), featureStats(fake.features)).fid),
        ...(model instanceof VQModel
          ? { codebook_usage: used.reduce((a, b) => a + b, 0) / used.length, codebook_size: used.length }
          : {}),
        command: `d2c ${process.argv.slice(2).join(' ')}`,
      };
      torch.dispose([real, fake]);
      if (o.out) {
        mkdirSync(o.out, { recursive: true });
        writeFileAtomic(join(o.out, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
        const grid = torch.noGrad(() =>
          torch.tidy(() => {
            const x = batchOf(set, 0, 16);
            return torch.cat([x, recon(x)], 0);
          }),
        );
        await saveImageGrid(grid, join(o.out, 'recon.png'), { nrow: 16 });
        grid.dispose();
      }
      process.stdout.write(`${JSON.stringify(report)}\n`);
    });
}
