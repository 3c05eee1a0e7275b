// The networks whose features and class probabilities the metrics are computed on. Fashion-MNIST
// uses our own classifier (fmnist_classifier.ts); Inception-v3 (pytorch-fid's pool3 features)
// can implement the same interface later. Metrics are named after the network
// (`fid_fmnist`, ...) because they are not comparable with Inception FID.

import type { Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';

export interface FeatureNetwork {
  /** Short name, used as the metric suffix (`fmnist` gives `fid_fmnist`). */
  readonly name: string;
  /** Length of one feature vector. */
  readonly featureDim: number;
  /** Features of images [B, C, H, W] float in [-1, 1] → [B, featureDim] float32. */
  features(images: Tensor): Tensor;
  /** Class probabilities [B, K] (softmax), for the Inception Score; absent when the net has no classifier head. */
  probs?(images: Tensor): Tensor;
}

export interface Embeddings {
  features: Tensor; // [N, D] float32
  probs: Tensor | null; // [N, K] float32
}

/** uint8 images [N, C, H, W] (0..255) → float32 in [-1, 1], the range the generators produce. */
export function uint8ToUnit(pixels: Tensor): Tensor {
  return torch.tidy(() => pixels.to('float32').div(127.5).sub(1));
}

/**
 * Runs the network over images in batches without gradients. `images(start, end)` returns a
 * batch [b, C, H, W] in [-1, 1] (so callers can decode or generate lazily); the results are
 * concatenated on the CPU.
 */
export function embed(
  net: FeatureNetwork,
  count: number,
  images: (start: number, end: number) => Tensor,
  opts: { batchSize?: number; onProgress?: (done: number, total: number) => void } = {},
): Embeddings {
  const bs = opts.batchSize ?? 500;
  if (!Number.isInteger(count) || count < 1) throw new Error(`embed: count must be a positive integer, got ${count}`);
  const feats: Tensor[] = [];
  const probs: Tensor[] = [];
  torch.noGrad(() => {
    for (let s = 0; s < count; s += bs) {
      const e = Math.min(count, s + bs);
      const [f, p] = torch.tidy(() => {
        const x = images(s, e);
        if (x.shape[0] !== e - s) throw new Error(`embed: batch ${s}..${e} has ${x.shape[0]} images, expected ${e - s}`);
        return [net.features(x).to('float32').to('cpu'), net.probs ? net.probs(x).to('float32').to('cpu') : null] as const;
      });
      feats.push(torch.keep(f));
      if (p) probs.push(torch.keep(p));
      opts.onProgress?.(e, count);
    }
  });
  const out = torch.tidy(() => ({
    features: torch.cat(feats, 0),
    probs: probs.length > 0 ? torch.cat(probs, 0) : null,
  }));
  torch.dispose([feats, probs]);
  return out;
}
