// `d2c cache`: encodes a dataset once with a VQ + KL tokenizer pair (codes, posterior mean/std,
// flipped variants, labels) for generator training.
import type { Command } from 'commander';
import { DATASETS, type DatasetName, openImageSet } from '../../data/open.ts';
import { buildTokenCache } from '../../pipeline/cache.ts';
import { loadPart } from '../../pipeline/parts.ts';
import type { AutoencoderKL } from '../../tokenizers/kl.ts';
import type { VQModel } from '../../tokenizers/vq.ts';
import * as torch from '../../torch/index.ts';
import { tokenizerChannels, tokenizerImageSize } from '../../train/infer.ts';
import { type DeviceFlags, deviceOption, runDevice } from '../device_options.ts';
import { UsageError } from '../errors.ts';
import { choiceOption, intOption, positiveInt } from '../options.ts';
import { progressBar } from '../progress.ts';

export function register(program: Command): void {
  deviceOption(program.command('cache'))
    .description('encode a dataset with a VQ + KL tokenizer pair into a token cache')
    .requiredOption('--vq <dir>', 'trained VQ tokenizer (checkpoint or part folder)')
    .requiredOption('--kl <dir>', 'trained KL tokenizer (checkpoint or part folder)')
    .requiredOption('--out <dir>', 'cache folder to write')
    .option('--dataset <name>', `dataset (${DATASETS.join(', ')})`, choiceOption('--dataset', DATASETS), 'fashion-mnist')
    .option('--data <dir>', 'Fashion-MNIST IDX folder or ImageFolder root')
    .option('--split <split>', 'Fashion-MNIST split', choiceOption('--split', ['train', 'test'] as const), 'train')
    .option('--size <n>', 'image size (imagefolder, synthetic; default: the size the VQ was trained on)', positiveInt('--size'))
    .option(
      '--channels <n>',
      'channels (imagefolder, synthetic; default: the tokenizers’)',
      intOption('--channels', { min: 1, max: 3 }),
    )
    .option('--count <n>', 'synthetic: number of samples', positiveInt('--count'), 1000)
    .option('--batch-size <n>', 'encoding batch size', positiveInt('--batch-size'), 250)
    .option('--threads <n>', 'intra-op threads', positiveInt('--threads'), 2)
    .action(async (o) => {
      torch.setNumThreads(o.threads);
      const device = runDevice((o as DeviceFlags).device);
      const vq = loadPart<VQModel>(o.vq, { device });
      const kl = loadPart<AutoencoderKL>(o.kl, { device });
      if (vq.config.kind !== 'vq') throw new Error(`--vq ${o.vq} holds a ${vq.config.kind} model`);
      if (kl.config.kind !== 'kl') throw new Error(`--kl ${o.kl} holds a ${kl.config.kind} model`);
      const vqChannels = tokenizerChannels(vq.config);
      const klChannels = tokenizerChannels(kl.config);
      if (vqChannels !== klChannels)
        throw new UsageError(`--vq ${o.vq} takes ${vqChannels}-channel images but --kl ${o.kl} takes ${klChannels}`);
      const set = await openImageSet({
        dataset: o.dataset as DatasetName,
        data: o.data,
        split: o.split,
        size: o.size ?? tokenizerImageSize(vq.config) ?? 32,
        channels: o.channels ?? vqChannels,
        count: o.count,
      });
      if (set.channels !== vqChannels)
        throw new UsageError(`the tokenizers take ${vqChannels}-channel images but ${set.name} has ${set.channels} channels`);
      const bar = progressBar('cache');
      const t0 = performance.now();
      const meta = await buildTokenCache({
        vq: vq.model,
        kl: kl.model,
        vqDir: o.vq,
        klDir: o.kl,
        set,
        outDir: o.out,
        batchSize: o.batchSize,
        shardSize: o.batchSize * 40,
        onProgress: (d, t) => bar.update(d, t),
      });
      bar.done();
      const s = ((performance.now() - t0) / 1000).toFixed(1);
      process.stderr.write(
        `cached ${meta.count} images (${meta.grid}×${meta.grid} codes and latents, flipped too) in ${s} s → ${o.out}\n`,
      );
    });
}
