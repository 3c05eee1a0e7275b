// Sampling codes from the stage-1 GPT with a KV cache, classifier-free guidance, temperature,
// top-k and top-p (FoundationVision/LlamaGen autoregressive/models/generate.py).
//
// With guidance, the conditional rows and the null-class rows run as one batch [cond; null] of 2B
// rows; both halves are fed the same sampled code, and the logits are combined as
// uncond + (cond − uncond)·scale before sampling. The one seeded generator passed in drives every
// draw, so the same seed gives the same codes.

import type { Generator, Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';
import type { GPT } from './gpt.ts';

export interface SampleOptions {
  /** divides the logits (LlamaGen clamps it at 1e-5) */
  temperature?: number;
  /** keep the k most likely codes (0: all) */
  topK?: number;
  /** keep the smallest set of codes whose probability reaches p, plus the first one beyond (1: all) */
  topP?: number;
  /** guidance scale; > 1 batches the null class with each row, as LlamaGen does */
  cfgScale?: number;
  /** guide only the first codes: after decode step `cfgInterval` (−1: always) use the conditional logits */
  cfgInterval?: number;
  /** take the most likely code instead of drawing one */
  greedy?: boolean;
  /** the seeded generator every draw uses (required unless greedy) */
  generator?: Generator;
  /** An AbortSignal, or anything whose throwIfAborted throws once the work should stop: checked before each code. */
  signal?: Pick<AbortSignal, 'throwIfAborted'>;
}

/** Guided logits from a batch [cond; uncond] of 2B rows → [B, V]. */
export function cfgLogits(logits: Tensor, scale: number): Tensor {
  const rows = logits.shape[0];
  if (rows % 2 !== 0) throw new Error(`cfgLogits: expected an even number of rows [cond; uncond], got ${rows}`);
  const [cond, uncond] = logits.chunk(2, 0); // [B, V] each
  return torch.F.lerp(uncond, cond, scale);
}

/** Sets every logit outside the top-k and the top-p nucleus to −∞ (LlamaGen's top_k_top_p_filtering). */
export function filterLogits(logits: Tensor, topK = 0, topP = 1): Tensor {
  const V = logits.shape[logits.shape.length - 1];
  let out = logits;
  if (topK > 0) {
    const kth = out.topk(Math.min(topK, V), -1)[0].narrow(-1, Math.min(topK, V) - 1, 1); // [N, 1]
    out = out.maskedFill(out.lt(kth), Number.NEGATIVE_INFINITY);
  }
  if (topP < 1) {
    const [sorted, order] = out.sort(-1, true); // [N, V], descending
    const cum = sorted.softmax(-1).cumsum(-1);
    // drop a code once the mass before it already exceeds p: shift "cum > p" right by one
    const over = cum.gt(topP);
    const N = over.shape[0];
    const dropSorted = torch.cat([torch.zeros([N, 1], { dtype: 'bool', device: over.device }), over.narrow(-1, 0, V - 1)], -1);
    const drop = dropSorted.scatter(-1, order, dropSorted); // back to vocabulary order
    out = out.maskedFill(drop, Number.NEGATIVE_INFINITY);
  }
  return out;
}

/** One code per row from logits [N, V] → [N, 1] int64. */
export function sampleFromLogits(logits: Tensor, o: SampleOptions = {}): Tensor {
  if (o.greedy) return logits.argmax(-1, true);
  if (!o.generator) throw new Error('sampleFromLogits: pass a seeded torch.Generator (opts.generator) unless greedy');
  const temperature = o.temperature ?? 1;
  const scaled = temperature === 1 ? logits : logits.div(Math.max(temperature, 1e-5));
  const V = logits.shape[logits.shape.length - 1];
  const topK = o.topK ?? 0;
  if (topK > 0 && topK < V && (o.topP ?? 1) >= 1) {
    // The same distribution as masking all but the top k and drawing over the vocabulary, drawn
    // over the k survivors only: softmax and the draw's noise cost k/V as much.
    const [values, indices] = scaled.topk(topK, -1); // [N, k] each
    return indices.gather(-1, torch.multinomial(values.softmax(-1), 1, false, o.generator));
  }
  const probs = filterLogits(scaled, topK, o.topP ?? 1).softmax(-1);
  return torch.multinomial(probs, 1, false, o.generator);
}

/**
 * Samples `numTokens` codes (default: the whole grid) for each label of labels [B]
 * → codes [B, numTokens] int64, in raster order.
 */
export function generate(model: GPT, labels: Tensor, o: SampleOptions & { numTokens?: number } = {}): Tensor {
  const c = model.config;
  const n = o.numTokens ?? c.blockSize;
  if (n < 1 || n > c.blockSize) throw new Error(`generate: numTokens ${n} out of range 1..${c.blockSize}`);
  if (labels.ndim !== 1) throw new Error(`generate: labels must be [B], got [${labels.shape}]`);
  const scale = o.cfgScale ?? 1;
  const guided = scale > 1;
  if (guided && c.classDropoutProb <= 0) throw new Error('generate: cfgScale > 1 needs a null class (classDropoutProb > 0)');
  const interval = o.cfgInterval ?? -1;
  const B = labels.shape[0];
  const wasTraining = model.training;
  model.eval();
  model.setupCaches(guided ? 2 * B : B, c.clsTokenNum + n);
  try {
    return torch.noGrad(() =>
      torch.tidy(() => {
        const cond = guided ? torch.cat([labels, torch.fullLike(labels, c.numClasses)]) : labels; // [R]
        // step: logits of all R rows → next code [B, 1]
        const pick = (logits: Tensor, useCfg: boolean) => {
          const l = guided ? (useCfg ? cfgLogits(logits, scale) : logits.narrow(0, 0, B)) : logits;
          return sampleFromLogits(l, o);
        };
        o.signal?.throwIfAborted();
        const codes: Tensor[] = [torch.tidy(() => pick(model.prefill(cond), true))];
        for (let i = 0; i < n - 1; i++) {
          o.signal?.throwIfAborted();
          const prev = codes[i];
          const next = torch.tidy(() => {
            const x = guided ? torch.cat([prev, prev]) : prev; // [R, 1]
            return pick(model.decode(x, c.clsTokenNum + i), interval < 0 || i <= interval);
          });
          codes.push(next);
        }
        return torch.cat(codes, 1); // [B, n]
      }),
    );
  } finally {
    model.clearCaches();
    model.train(wasTraining);
  }
}

/**
 * Stage 1's own codes under teacher forcing: one forward pass over the real codes [B, L] and labels
 * [B], and a draw at every position from its next-code distribution given the real prefix
 * → [B, L] int64 (no guidance). What code mixing (fusion.ts mixCodes) feeds stage 2.
 */
export function teacherForcedSample(model: GPT, codes: Tensor, labels: Tensor, o: SampleOptions = {}): Tensor {
  const [B, L] = codes.shape;
  return torch.noGrad(() =>
    torch.tidy(() => {
      const logits = model.forward(codes.narrow(1, 0, L - 1), labels); // [B, L, V]
      const V = logits.shape[2];
      return sampleFromLogits(logits.reshape(B * L, V), o).view(B, L);
    }),
  );
}
