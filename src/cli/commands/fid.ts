// `d2c fid A B`: the Fréchet distance between two image sets, printed as `{"fid": ...}` like
// `python -m pytorch_fid A B`. With `--features inception` it is Inception FID, pytorch-fid's number;
// by default it is FID-FMNIST (the Fashion-MNIST classifier's features), which is not comparable
// with Inception FID (the output names the network).
// Each of A and B is a folder of images, an `.npz` of statistics (mu, sigma) or of images (arr_0),
// or `fmnist:train` / `fmnist:test` for a Fashion-MNIST split. `--save-stats A OUT.npz` writes A's
// statistics instead (as `d2c stats A --out OUT.npz` does). Two statistics files need no network:
// like pytorch-fid, any two that agree in size are compared, and the output names no network.

import { statSync } from 'node:fs';
import type { Command } from 'commander';
import { FASHION_MNIST_DIR, loadFashionMnist } from '../../data/fashion_mnist.ts';
import { embedImageSet } from '../../eval/evaluate.ts';
import type { FeatureNetwork } from '../../eval/feature_network.ts';
import { type ImageSetOptions, readStatsFile, statsOfPath } from '../../eval/fid_inputs.ts';
import { type FeatureStats, featureStats, frechetDistance, saveStats } from '../../eval/frechet.ts';
import * as torch from '../../torch/index.ts';
import { UsageError } from '../errors.ts';
import { type FeatureFlags, featureOptions, loadFeatureNetwork } from '../feature_options.ts';
import { positiveInt } from '../options.ts';
import { progressBar } from '../progress.ts';

/** FID statistics of a path: `fmnist:<split>`, or what statsOfPath reads (folder, .npz). */
export async function statsOf(path: string, net: FeatureNetwork, o: ImageSetOptions & { data: string }): Promise<FeatureStats> {
  const split = /^fmnist:(train|test)$/.exec(path)?.[1] as 'train' | 'test' | undefined;
  if (split) {
    const e = embedImageSet(net, loadFashionMnist(split, { dir: o.data }), o.onProgress, o.batchSize);
    const s = featureStats(e.features);
    torch.dispose(e);
    return s;
  }
  if (!path.endsWith('.npz') && /^[a-z]+:/.test(path))
    throw new UsageError(`${path}: unknown set (expected a folder, an .npz, fmnist:train or fmnist:test)`);
  try {
    return await statsOfPath(path, net, o);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export function register(program: Command): void {
  featureOptions(
    program
      .command('fid')
      .description(
        'Fréchet distance of two image folders / .npz files / fmnist:<split> (FID-FMNIST, or Inception FID with --features inception)',
      )
      .argument('<a>', 'folder of images, .npz (mu/sigma statistics or arr_0 images), or fmnist:train / fmnist:test')
      .argument('<b>', 'the same kinds; with --save-stats, the .npz to write'),
  )
    .option('--data <dir>', 'Fashion-MNIST folder for fmnist:<split>', FASHION_MNIST_DIR)
    .option('--save-stats', "write A's stats (mu, sigma) to B instead of comparing", false)
    .option('--threads <n>', 'intra-op threads', positiveInt('--threads'), 2)
    .action(async (a: string, b: string, o: FeatureFlags & { data: string; saveStats: boolean; threads: number }) => {
      torch.setNumThreads(o.threads);
      if (o.saveStats && !b.endsWith('.npz')) throw new UsageError(`fid --save-stats: output ${b} must end in .npz`);
      const direct = o.saveStats ? null : statsFilesFid(a, b);
      if (direct) return void console.log(JSON.stringify(direct));
      const { net, input, batchSize } = loadFeatureNetwork(o);
      const bar = progressBar('fid');
      const io = (label: string) => ({
        input,
        batchSize,
        data: o.data,
        onProgress: (d: number, t: number) => bar.update(d, t, label),
      });
      const sa = await statsOf(a, net, io(a));
      if (o.saveStats) {
        saveStats(b, sa);
        bar.done();
        console.log(JSON.stringify({ saved: b, n_features: sa.mu.shape[0], network: net.name }));
        torch.dispose(sa);
        return;
      }
      const sb = await statsOf(b, net, io(b));
      bar.done();
      const r = frechetDistance(sa, sb);
      console.log(JSON.stringify({ fid: r.fid, network: net.name, offset_used: r.offsetUsed }));
      torch.dispose([sa, sb]);
    });
}

/** The FID of two statistics files, as printed; null unless both are statistics files. */
export function statsFilesFid(a: string, b: string): { fid: number; n_features: number; offset_used: boolean } | null {
  if (!a.endsWith('.npz') || !b.endsWith('.npz')) return null;
  const read = (p: string) => {
    try {
      if (!statSync(p, { throwIfNoEntry: false })?.isFile()) throw new Error(`${p}: no such file`);
      return readStatsFile(p);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  };
  const sa = read(a);
  const sb = sa ? read(b) : null;
  try {
    if (!sa || !sb) return null;
    const [da, db] = [sa.mu.shape[0], sb.mu.shape[0]];
    if (da !== db) throw new UsageError(`${a} holds ${da}-d statistics but ${b} holds ${db}-d ones: they must agree in size`);
    const r = frechetDistance(sa, sb);
    return { fid: r.fid, n_features: da, offset_used: r.offsetUsed };
  } finally {
    torch.dispose([sa, sb]);
  }
}
