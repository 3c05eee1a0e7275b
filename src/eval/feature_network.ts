// The networks whose features and class probabilities the metrics are computed on. Fashion-MNIST
// uses our own classifier (fmnist_classifier.ts), real datasets pytorch-fid's Inception v3
// (inception_network.ts). Metrics are named after the network (`fid_fmnist`, `fid_inception`, ...)
// because FID-FMNIST is not comparable with Inception FID.

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
  /** Features and probabilities from one forward (when the network can share it). */
  embedBatch?(images: Tensor): { features: Tensor; probs: Tensor | null };
  /** Seed of the numpy permutation applied before the IS splits (torch-fidelity's 2020); none: in order. */
  readonly isShuffleSeed?: number;
}

export interface Embeddings {
  features: Tensor; // [N, D] float32
  probs: Tensor | null; // [N, K] float32
}

/** uint8 images [N, C, H, W] (0..255) → float32 in [-1, 1], the range the generators produce. */
export function uint8ToUnit(pixels: Tensor): Tensor {
  return torch.tidy(() => pixels.to('float32').div(127.5).sub(1));
}

/** One batch through the network, without gradients: float32 CPU features and probabilities. */
function embedOne(net: FeatureNetwork, x: Tensor, expected: number, where: string): [Tensor, Tensor | null] {
  return torch.noGrad(() =>
    torch.tidy(() => {
      if (x.shape[0] !== expected) throw new Error(`embed: batch ${where} has ${x.shape[0]} images, expected ${expected}`);
      const out = net.embedBatch ? net.embedBatch(x) : { features: net.features(x), probs: net.probs ? net.probs(x) : null };
      return [out.features.to('float32').to('cpu'), out.probs ? out.probs.to('float32').to('cpu') : null] as [
        Tensor,
        Tensor | null,
      ];
    }),
  );
}

function concat(feats: Tensor[], probs: Tensor[]): Embeddings {
  const out = torch.tidy(() => ({
    features: torch.cat(feats, 0),
    probs: probs.length > 0 ? torch.cat(probs, 0) : null,
  }));
  torch.dispose([feats, probs]);
  return out;
}

interface EmbedOptions {
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Runs the network over images in batches without gradients. `images(start, end)` returns a
 * batch [b, C, H, W] in [-1, 1] (so callers can decode or generate lazily); the results are
 * concatenated on the CPU. Each batch's inputs and activations are freed before the next.
 */
export function embed(
  net: FeatureNetwork,
  count: number,
  images: (start: number, end: number) => Tensor,
  opts: EmbedOptions = {},
): Embeddings {
  const bs = opts.batchSize ?? 500;
  if (!Number.isInteger(count) || count < 1) throw new Error(`embed: count must be a positive integer, got ${count}`);
  const feats: Tensor[] = [];
  const probs: Tensor[] = [];
  for (let s = 0; s < count; s += bs) {
    const e = Math.min(count, s + bs);
    const [f, p] = torch.tidy(() => embedOne(net, images(s, e), e - s, `${s}..${e}`));
    feats.push(torch.keep(f));
    if (p) probs.push(torch.keep(p));
    opts.onProgress?.(e, count);
  }
  return concat(feats, probs);
}

/** embed() for batches that arrive asynchronously (decoded from files); each batch tensor is disposed after use. */
export async function embedAsync(
  net: FeatureNetwork,
  count: number,
  images: (start: number, end: number) => Promise<Tensor>,
  opts: EmbedOptions = {},
): Promise<Embeddings> {
  const bs = opts.batchSize ?? 500;
  if (!Number.isInteger(count) || count < 1) throw new Error(`embed: count must be a positive integer, got ${count}`);
  const feats: Tensor[] = [];
  const probs: Tensor[] = [];
  // The next batch is requested before this one runs, so its decoding (off the main thread, e.g.
  // sharp's) overlaps the network's forward.
  const request = (s: number) => {
    const p = images(s, Math.min(count, s + bs));
    p.catch(() => {}); // awaited below; a rejection while another batch runs is not "unhandled"
    return p;
  };
  let pending = request(0);
  try {
    for (let s = 0; s < count; s += bs) {
      const e = Math.min(count, s + bs);
      const x = await pending;
      if (e < count) pending = request(e);
      let out: [Tensor, Tensor | null];
      try {
        out = embedOne(net, x, e - s, `${s}..${e}`);
      } finally {
        x.dispose();
      }
      feats.push(torch.keep(out[0]));
      if (out[1]) probs.push(torch.keep(out[1]));
      opts.onProgress?.(e, count);
    }
  } catch (err) {
    torch.dispose([feats, probs]);
    throw err;
  }
  return concat(feats, probs);
}
