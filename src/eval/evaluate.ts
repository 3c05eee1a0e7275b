// The evaluation core of `d2c eval`: class-balanced samples from a sampler callback, their
// features through a FeatureNetwork, and FID/KID/IS/precision/recall (+ the classifier's
// agreement with the requested class) against a reference image set, as a JSON report and a
// sample grid. The D2C pipeline plugs in as the sampler; real images give the floor.

import { join } from 'node:path';
import type { ArrayImageSet } from '../data/dataset.ts';
import { saveImageGrid } from '../data/png.ts';
import { writeFileAtomic } from '../io/atomic_file.ts';
import type { Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';
import { type Embeddings, embed, type FeatureNetwork, uint8ToUnit } from './feature_network.ts';
import { type FeatureStats, featureStats, frechetDistance } from './frechet.ts';
import { inceptionScore, kernelDistance, precisionRecall } from './metrics.ts';

/** Generates images [B, C, H, W] in [-1, 1] for the given class labels; `seed` fixes the draw. */
export type Sampler = (classes: number[], seed: number) => Promise<Tensor>;

/**
 * What samples are compared with: images in memory (embedded here), features already embedded (a
 * folder, an `.npz` of images), or only FID statistics (an `.npz` of mu/sigma: FID and IS only,
 * since KID and precision/recall need the reference features).
 */
export type Reference =
  | ArrayImageSet
  | { kind: 'embedded'; name: string; embeddings: Embeddings }
  | { kind: 'stats'; name: string; stats: FeatureStats };

export interface EvaluateOptions {
  net: FeatureNetwork;
  /** Reference set (the Fashion-MNIST test split for generators; the train split for the real floor). */
  reference: Reference;
  /** Images per feature-network batch (default: 500 for an in-memory reference, the sampling batch for samples). */
  featureBatch?: number;
  /** Number of samples; rounded to whole batches, classes cycle 0..K-1 so every class gets n/K. */
  n: number;
  numClasses: number;
  batchSize?: number;
  seed?: number;
  kidSubsets?: number;
  kidSubsetSize?: number;
  isSplits?: number;
  /** k of the k-NN manifolds (Kynkäänniemi et al.: 3). */
  k?: number;
  /** Where report.json and samples.png go; nothing is written without it. */
  outDir?: string;
  /** Extra fields for the report (model, sampler settings, ...). */
  meta?: Record<string, unknown>;
  /** Metrics the sampler measured itself (the oracle's PSNRs), read once sampling is done. */
  samplerMetrics?: () => Record<string, number>;
  onProgress?: (stage: 'sample' | 'reference' | 'metrics', done: number, total: number) => void;
}

export interface EvaluationReport {
  network: string;
  n: number;
  referenceName: string;
  /** Reference images; null when the reference is statistics only. */
  referenceN: number | null;
  metrics: Record<string, number>;
  seconds: { sampling: number; total: number };
  meta?: Record<string, unknown>;
}

/** The class of the i-th sample: 0, 1, ..., K-1, 0, 1, ... (class-balanced in every prefix of K). */
export function balancedClasses(start: number, count: number, numClasses: number): number[] {
  return Array.from({ length: count }, (_, i) => (start + i) % numClasses);
}

/** Features of a uint8 image set through the network (in batches of `batchSize`, default 500). */
export function embedImageSet(
  net: FeatureNetwork,
  set: ArrayImageSet,
  onProgress?: (d: number, t: number) => void,
  batchSize?: number,
): Embeddings {
  const per = set.channels * set.size * set.size;
  const n = set.labels.length;
  return embed(
    net,
    n,
    (s, e) =>
      uint8ToUnit(torch.fromBuffer(set.pixels.slice(s * per, e * per), [e - s, set.channels, set.size, set.size], 'uint8')),
    { onProgress, batchSize },
  );
}

/** A sampler that returns real images of the requested classes, in set order per class (the floor). */
export function realImageSampler(set: ArrayImageSet): Sampler {
  const byClass: number[][] = set.classes.map(() => []);
  set.labels.forEach((l, i) => {
    byClass[l].push(i);
  });
  const cursor = byClass.map(() => 0);
  const per = set.channels * set.size * set.size;
  return async (classes) => {
    const buf = new Uint8Array(classes.length * per);
    classes.forEach((c, j) => {
      const list = byClass[c];
      if (!list || list.length === 0) throw new Error(`realImageSampler: ${set.name} has no image of class ${c}`);
      const i = list[cursor[c]++ % list.length];
      buf.set(set.pixels.subarray(i * per, (i + 1) * per), j * per);
    });
    return torch.tidy(() => uint8ToUnit(torch.fromBuffer(buf, [classes.length, set.channels, set.size, set.size], 'uint8')));
  };
}

/** Draws class-balanced samples and computes the metrics against the reference set. */
export async function evaluateSamples(sampler: Sampler, o: EvaluateOptions): Promise<EvaluationReport> {
  const t0 = performance.now();
  const bs = o.batchSize ?? 100;
  const seed = o.seed ?? 0;
  if (!Number.isInteger(o.n) || o.n < 2) throw new Error(`evaluateSamples: n must be an integer ≥ 2, got ${o.n}`);
  const { net, reference: ref } = o;
  // Samples must match an in-memory reference's shape; other references take any [B, C, H, W].
  const expect = ref.kind === 'array' ? [ref.channels, ref.size, ref.size] : null;

  // 1. Samples: batch b gets seed + b, so a run is reproducible and batches are independent.
  const feats: Tensor[] = [];
  const probs: Tensor[] = [];
  const agree: number[] = [];
  let grid: Tensor | null = null;
  let refEmb: Embeddings | null = null;
  // Whatever fails (the sampler, the network, a metric), the tensors kept so far are freed.
  try {
    const gridCount = Math.min(o.n, o.numClasses * 10);
    for (let start = 0, b = 0; start < o.n; start += bs, b++) {
      const classes = balancedClasses(start, Math.min(bs, o.n - start), o.numClasses);
      const images = await sampler(classes, seed + b);
      try {
        const e = torch.tidy(() => {
          const want = expect ? [classes.length, ...expect] : null;
          if (
            want ? JSON.stringify(images.shape) !== JSON.stringify(want) : images.ndim !== 4 || images.shape[0] !== classes.length
          )
            throw new Error(
              `evaluateSamples: sampler returned [${images.shape}], expected [${want ? want.join(', ') : `${classes.length}, C, H, W`}]`,
            );
          const x = images.detach().to('float32').clamp(-1, 1);
          return embed(net, classes.length, (s0, e0) => x.narrow(0, s0, e0 - s0), {
            batchSize: o.featureBatch ?? classes.length,
          });
        });
        if (start < gridCount) {
          const g = torch.tidy(() =>
            images
              .detach()
              .to('float32')
              .narrow(0, 0, Math.min(classes.length, gridCount - start)),
          );
          const prev: Tensor | null = grid;
          grid = torch.keep(prev ? torch.tidy(() => torch.cat([prev, g], 0)) : g);
          if (prev) torch.dispose([prev, g]);
        }
        feats.push(torch.keep(e.features));
        if (e.probs) {
          probs.push(torch.keep(e.probs));
          agree.push(torch.tidy(() => e.probs!.argmax(-1).eq(torch.tensor(classes).to('int64')).sum().item()));
        }
      } finally {
        images.dispose();
      }
      o.onProgress?.('sample', Math.min(o.n, start + bs), o.n);
    }
    const samplingSeconds = (performance.now() - t0) / 1000;

    // 2. Reference features.
    refEmb =
      ref.kind === 'array'
        ? embedImageSet(net, ref, (d, t) => o.onProgress?.('reference', d, t), o.featureBatch)
        : ref.kind === 'embedded'
          ? ref.embeddings
          : null;

    // 3. Metrics.
    o.onProgress?.('metrics', 0, 1);
    const metrics = torch.tidy(() => {
      const fake = torch.cat(feats, 0);
      const m: Record<string, number> = {};
      const name = net.name;
      const refStats = refEmb ? featureStats(refEmb.features) : (ref as { stats: FeatureStats }).stats;
      m[`fid_${name}`] = frechetDistance(refStats, featureStats(fake)).fid;
      if (refEmb) {
        const kid = kernelDistance(refEmb.features, fake, {
          subsets: o.kidSubsets ?? 100,
          subsetSize: o.kidSubsetSize ?? 1000,
          generator: new torch.Generator(seed),
        });
        m[`kid_${name}`] = kid.mean;
        m[`kid_${name}_std`] = kid.std;
      }
      if (probs.length > 0) {
        const is = inceptionScore(torch.cat(probs, 0), Math.min(o.isSplits ?? 10, o.n), { shuffleSeed: net.isShuffleSeed });
        m[`is_${name}`] = is.mean;
        m[`is_${name}_std`] = is.std;
        m[`class_agreement_${name}`] = agree.reduce((a, v) => a + v, 0) / o.n;
      }
      if (refEmb) {
        // Equal-size sets, as Kynkäänniemi et al. compare them: the first n reference features.
        const realPr = refEmb.features.narrow(0, 0, Math.min(o.n, refEmb.features.shape[0]));
        const pr = precisionRecall(realPr, fake, o.k ?? 3);
        m[`precision_${name}`] = pr.precision;
        m[`recall_${name}`] = pr.recall;
      }
      return m;
    });
    o.onProgress?.('metrics', 1, 1);

    const report: EvaluationReport = {
      network: net.name,
      n: o.n,
      referenceName: ref.name,
      referenceN: ref.kind === 'array' ? ref.labels.length : ref.kind === 'embedded' ? ref.embeddings.features.shape[0] : null,
      metrics: { ...metrics, ...o.samplerMetrics?.() },
      seconds: { sampling: samplingSeconds, total: (performance.now() - t0) / 1000 },
      meta: o.meta,
    };
    if (o.outDir) {
      writeFileAtomic(join(o.outDir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
      // One column per class: samples were drawn cycling through the classes.
      if (grid) await saveImageGrid(grid, join(o.outDir, 'samples.png'), { nrow: o.numClasses });
    }
    return report;
  } finally {
    // An embedded reference belongs to the caller; one embedded here is ours to free.
    torch.dispose([feats, probs, grid, ref.kind === 'array' ? refEmb : null]);
  }
}
