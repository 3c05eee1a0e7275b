// LlamaGen's VectorQuantizer (tokenizer/tokenizer_image/vq_model.py): nearest-codebook lookup with an
// l2-normalised codebook (cosine similarity, as ViT-VQGAN), codebook + commitment losses, an optional
// entropy loss (MaskGIT), straight-through gradients, and a rolling record of used codes.

import { Embedding, type InitOpts } from '../nn/layers.ts';
import { Module } from '../nn/module.ts';
import type { Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';

/** Length of the rolling `codebook_used` record, fixed by the reference checkpoint's buffer shape. */
export const USAGE_WINDOW = 65536;

export interface QuantizerOptions {
  codebookSize: number;
  embedDim: number;
  beta: number; // commitment weight (0.25)
  entropyLossRatio: number; // 0 disables the entropy loss
  l2Norm: boolean;
  showUsage: boolean; // keep the `quantize.codebook_used` buffer (part of the official state dict)
}

export interface QuantizerLosses {
  vq: Tensor; // ‖sg(z) − e‖², moves the codebook
  commit: Tensor; // β‖z − sg(e)‖², moves the encoder
  entropy: Tensor; // ratio · (per-sample entropy − batch entropy)
}

export interface CodebookStats {
  /** Fraction of codes seen in the rolling window of the last 65536 lookups (LlamaGen's `codebook_usage`). */
  usage: number;
  /** Fraction of codes used in this batch. */
  batchUsage: number;
  /** exp(entropy) of this batch's code histogram: the effective number of codes. */
  perplexity: number;
}

export interface QuantizerOutput {
  quant: Tensor; // [B, D, H, W], straight-through: forward = codebook entry, backward = identity to z
  indices: Tensor; // [B, H, W] int64
  losses: QuantizerLosses | null; // only in training mode
  stats: CodebookStats | null; // only in training mode
}

/** F.normalize(x, p=2, dim=-1). */
export function l2Normalize(x: Tensor): Tensor {
  return x.div(x.norm(2, -1, true).clamp(1e-12, null));
}

export class VectorQuantizer extends Module {
  readonly embedding: Embedding;
  readonly codebookUsed: Tensor | null; // float32 [65536], the last looked-up indices

  constructor(
    readonly opts: QuantizerOptions,
    o: InitOpts = {},
  ) {
    super();
    const { codebookSize: K, embedDim: D } = opts;
    if (!(K > 0 && D > 0)) throw new Error(`VectorQuantizer: bad codebook ${K}×${D}`);
    // The reference initialises U(±1/K) and then l2-normalises the rows.
    this.embedding = this.registerModule('embedding', new Embedding(K, D, o));
    const w = this.embedding.weight;
    torch.noGrad(() => {
      torch.uniform_(w, -1 / K, 1 / K, o.generator);
      if (opts.l2Norm) torch.tidy(() => w.copy_(l2Normalize(w)));
    });
    this.codebookUsed = opts.showUsage
      ? this.registerBuffer('codebook_used', torch.zeros([USAGE_WINDOW], { dtype: o.dtype, device: o.device }))
      : null;
  }

  /** The codebook as the lookup sees it: l2-normalised rows when `l2Norm`. [K, D] */
  codebook(): Tensor {
    return this.opts.l2Norm ? l2Normalize(this.embedding.weight) : this.embedding.weight;
  }

  forward(z: Tensor): QuantizerOutput {
    const [B, D, H, W] = z.shape;
    if (D !== this.opts.embedDim) throw new Error(`VectorQuantizer: expected ${this.opts.embedDim} channels, got [${z.shape}]`);
    let zt = z.permute(0, 2, 3, 1).reshape(B * H * W, D); // [N, D]
    if (this.opts.l2Norm) zt = l2Normalize(zt);
    const emb = this.codebook(); // [K, D]
    const d = this.distances(zt, emb); // [N, K]
    const flatIdx = d.argmin(1); // [N]
    const zq = emb.index([flatIdx]); // [N, D]
    let losses: QuantizerLosses | null = null;
    let stats: CodebookStats | null = null;
    if (this.training) {
      losses = this.losses(zt, zq, d);
      stats = this.recordUsage(flatIdx);
    }
    // Straight-through: the decoder sees the codebook entry, the encoder gets the decoder's gradient.
    const st = zt.add(zq.sub(zt).detach());
    const quant = st.reshape(B, H, W, D).permute(0, 3, 1, 2).contiguous(); // [B, D, H, W]
    return { quant, indices: flatIdx.reshape(B, H, W), losses, stats };
  }

  /** Codebook entries for `indices` ([B, H, W] int64) as a channel-first map [B, D, H, W]. */
  lookup(indices: Tensor): Tensor {
    if (indices.ndim !== 3) throw new Error(`VectorQuantizer.lookup: expected indices [B, H, W], got [${indices.shape}]`);
    const K = this.opts.codebookSize;
    const lo = indices.min().item();
    const hi = indices.max().item();
    if (lo < 0 || hi >= K) throw new Error(`VectorQuantizer.lookup: indices must lie in [0, ${K}), got [${lo}, ${hi}]`);
    return this.codebook().index([indices]).permute(0, 3, 1, 2).contiguous(); // [B, H, W, D] → [B, D, H, W]
  }

  /** Squared distances ‖z‖² + ‖e‖² − 2 z·e. [N, K] */
  private distances(zt: Tensor, emb: Tensor): Tensor {
    const zz = zt.square().sum(1, true); // [N, 1]
    const ee = emb.square().sum(1); // [K]
    return zz.add(ee).sub(zt.matmul(emb.t()).mul(2));
  }

  private losses(zt: Tensor, zq: Tensor, d: Tensor): QuantizerLosses {
    const vq = zq.sub(zt.detach()).square().mean();
    const commit = zq.detach().sub(zt).square().mean().mul(this.opts.beta);
    const entropy =
      this.opts.entropyLossRatio > 0
        ? entropyLoss(d.neg()).mul(this.opts.entropyLossRatio)
        : torch.zeros([], { dtype: zt.dtype, device: zt.device });
    return { vq, commit, entropy };
  }

  /** Shifts the rolling window, appends this batch's indices, and measures usage (no gradient). */
  private recordUsage(flatIdx: Tensor): CodebookStats {
    const K = this.opts.codebookSize;
    return torch.noGrad(() =>
      torch.tidy(() => {
        const n = flatIdx.shape[0];
        let usage: number;
        if (this.codebookUsed) {
          const buf = this.codebookUsed;
          const m = Math.min(n, USAGE_WINDOW);
          if (m < USAGE_WINDOW) buf.narrow(0, 0, USAGE_WINDOW - m).copy_(buf.narrow(0, m, USAGE_WINDOW - m).clone());
          buf.narrow(0, USAGE_WINDOW - m, m).copy_(flatIdx.narrow(0, n - m, m).to(buf.dtype));
          usage = countUsed(buf.long(), K) / K;
        } else {
          usage = countUsed(flatIdx, K) / K;
        }
        const hist = torch.callOp<Tensor>('aten::bincount', flatIdx, null, K).double().div(n); // [K]
        const ent = hist.mul(hist.clamp(1e-30, null).log()).sum().neg().item();
        return { usage, batchUsage: countUsed(flatIdx, K) / K, perplexity: Math.exp(ent) };
      }),
    );
  }
}

function countUsed(idx: Tensor, K: number): number {
  return torch.callOp<Tensor>('aten::bincount', idx, null, K).gt(0).sum().item();
}

/**
 * MaskGIT's entropy loss on the affinities (−distances) at temperature 0.01: low per-sample entropy
 * (confident assignments) and high batch entropy (all codes used). As LlamaGen's compute_entropy_loss.
 */
export function entropyLoss(affinity: Tensor, temperature = 0.01): Tensor {
  const a = affinity.reshape(-1, affinity.shape[affinity.ndim - 1]).div(temperature); // [N, K]
  const probs = a.softmax(-1);
  const logProbs = a.add(1e-5).logSoftmax(-1);
  const avg = probs.mean(0); // [K]
  const avgEntropy = avg.mul(avg.add(1e-5).log()).sum().neg();
  const sampleEntropy = probs.mul(logProbs).sum(-1).mean().neg();
  return sampleEntropy.sub(avgEntropy);
}
