// `d2c stats SET --out ref.npz`: the FID statistics (mu, sigma in float64) of a folder of images or an
// `.npz` of images (arr_0), written as pytorch-fid's `--save-stats` writes them, so either tool can
// compare against the file. With `--features inception` it also prints the set's Inception Score
// (10 splits, as torch-fidelity computes it).
import type { Command } from 'commander';
import { embedImagePath } from '../../eval/fid_inputs.ts';
import { featureStats, saveStats } from '../../eval/frechet.ts';
import { inceptionScore } from '../../eval/metrics.ts';
import * as torch from '../../torch/index.ts';
import { UsageError } from '../errors.ts';
import { type FeatureFlags, featureOptions, loadFeatureNetwork } from '../feature_options.ts';
import { positiveInt } from '../options.ts';
import { progressBar } from '../progress.ts';

export function register(program: Command): void {
  featureOptions(
    program
      .command('stats')
      .description('FID statistics (mu, sigma) of a folder of images or an .npz of images, as pytorch-fid --save-stats')
      .argument('<set>', 'folder of images, or .npz with arr_0 images [N, H, W, 3]'),
    'inception',
  )
    .requiredOption('--out <file.npz>', 'where to write mu and sigma')
    .option('--is-splits <n>', 'Inception Score splits', positiveInt('--is-splits'), 10)
    .option('--threads <n>', 'intra-op threads', positiveInt('--threads'), 2)
    .action(async (set: string, o: FeatureFlags & { out: string; isSplits: number; threads: number }) => {
      if (!o.out.endsWith('.npz')) throw new UsageError(`stats --out: ${o.out} must end in .npz`);
      torch.setNumThreads(o.threads);
      const { net, input, batchSize } = loadFeatureNetwork(o);
      const bar = progressBar('stats');
      let e: Awaited<ReturnType<typeof embedImagePath>>;
      try {
        e = await embedImagePath(set, net, { input, batchSize, onProgress: (d, t) => bar.update(d, t) });
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      bar.done();
      const n = e.features.shape[0];
      const stats = featureStats(e.features);
      saveStats(o.out, stats);
      const out: Record<string, unknown> = { saved: o.out, n, network: net.name, n_features: stats.mu.shape[0] };
      if (e.probs) {
        const is = inceptionScore(e.probs, Math.min(o.isSplits, n), { shuffleSeed: net.isShuffleSeed });
        out[`is_${net.name}`] = is.mean;
        out[`is_${net.name}_std`] = is.std;
      }
      console.log(JSON.stringify(out));
      torch.dispose([e, stats]);
    });
}
