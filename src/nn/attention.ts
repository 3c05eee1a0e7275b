// Multi-head attention over torch's fused scaled_dot_product_attention.
//   Attention       — timm's `Attention` (fused `qkv` + `proj`), the block MAR's encoder/decoder use
//                     (timm/models/vision_transformer.py, LTH14/mar models/mar.py).
//   CrossAttention  — queries from x (`q`), keys/values from a context (fused `kv`) + `proj`:
//                     D2C's fusion sub-layer (DESIGN.md "Fusion crossattn", Q-Former).
//   KVCache         — preallocated key/value buffers for incremental decoding, LlamaGen-style
//                     (FoundationVision/LlamaGen autoregressive/models/gpt.py `KVCache`).

import type { Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';
import type { InitOpts } from './layers.ts';
import { dropoutIfAny, Linear } from './layers.ts';
import { Module } from './module.ts';

export interface AttentionOpts extends InitOpts {
  /** Bias on the fused qkv (timm default false; MAR passes true). */
  qkvBias?: boolean;
  projBias?: boolean;
  /** Dropout on attention probabilities (training only; global generator, as torch). */
  attnDrop?: number;
  /** Dropout after the output projection (training only). */
  projDrop?: number;
}

export interface AttendOpts {
  /** Causal (token i sees keys ≤ i, aligned to the end when keys outnumber queries). */
  causal?: boolean;
  /** Bool (true = may attend) or additive float mask, broadcastable to [B, H, Lq, Lk]. */
  mask?: Tensor | null;
  /** Incremental decoding: this step's keys/values are appended and attention covers all of them. */
  cache?: KVCache;
}

function checkHeads(name: string, dim: number, heads: number): number {
  if (!Number.isInteger(heads) || heads <= 0 || dim % heads !== 0) {
    throw new Error(`${name}: dim ${dim} is not divisible by heads ${heads}`);
  }
  return dim / heads;
}

/** [B, L, H*hd] -> [B, H, L, hd] */
export function splitHeads(x: Tensor, heads: number): Tensor {
  const [b, l, d] = x.shape;
  return x.view(b, l, heads, d / heads).transpose(1, 2);
}

/** [B, H, L, hd] -> [B, L, H*hd] */
export function mergeHeads(x: Tensor): Tensor {
  const [b, h, l, hd] = x.shape;
  return x.transpose(1, 2).reshape(b, l, h * hd);
}

/**
 * Bool mask [1, 1, Lq, Lk] for causal attention of Lq new queries against Lk keys whose last Lq
 * are the queries themselves (bottom-right aligned). sdpa's `is_causal` aligns top-left, which is
 * only right when Lq == Lk.
 */
export function causalMask(lq: number, lk: number, device = 'cpu'): Tensor {
  return torch.tidy(() => {
    const qi = torch.arange(lk - lq, lk, 1, { device }).view(lq, 1);
    const ki = torch.arange(0, lk, 1, { device }).view(1, lk);
    return ki.le(qi).view(1, 1, lq, lk);
  });
}

/** Bool mask [B, 1, 1, Lk] from key validity [B, Lk] (true = a real token, may be attended). */
export function keyPaddingMask(valid: Tensor): Tensor {
  const [b, lk] = valid.shape;
  return torch.tidy(() => valid.to('bool').view(b, 1, 1, lk));
}

/** sdpa on [B, H, L, hd] tensors with our causal/mask conventions. */
export function attend(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  opts: { causal?: boolean; mask?: Tensor | null; dropoutP?: number },
): Tensor {
  const lq = q.shape[2];
  const lk = k.shape[2];
  let mask = opts.mask ?? null;
  let isCausal = false;
  if (opts.causal) {
    if (lq > lk) throw new Error(`attention: causal with ${lq} queries but only ${lk} keys`);
    if (mask === null && lq === lk) isCausal = true;
    else if (lq > 1) {
      const cm = causalMask(lq, lk, q.device);
      mask = mask === null ? cm : combineMasks(mask, cm);
    }
  }
  return torch.F.scaledDotProductAttention(q, k, v, { mask, isCausal, dropoutP: opts.dropoutP ?? 0 });
}

/** Intersection of a user mask (bool or additive) with a bool causal mask. */
function combineMasks(mask: Tensor, causal: Tensor): Tensor {
  if (mask.dtype === 'bool') return mask.logicalAnd(causal);
  return mask.maskedFill(causal.logicalNot(), Number.NEGATIVE_INFINITY);
}

/** timm `Attention`: x [B, L, D] -> [B, L, D] with parameters `qkv` [3D, D] and `proj` [D, D]. */
export class Attention extends Module {
  readonly headDim: number;
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly attnDrop: number;
  readonly projDrop: number;

  constructor(
    readonly dim: number,
    readonly heads: number,
    o: AttentionOpts = {},
  ) {
    super();
    this.headDim = checkHeads('Attention', dim, heads);
    this.qkv = this.registerModule('qkv', new Linear(dim, 3 * dim, o.qkvBias ?? false, o));
    this.proj = this.registerModule('proj', new Linear(dim, dim, o.projBias ?? true, o));
    this.attnDrop = o.attnDrop ?? 0;
    this.projDrop = o.projDrop ?? 0;
  }

  forward(x: Tensor, opts: AttendOpts = {}): Tensor {
    const [q, k, v] = this.projectQKV(x);
    const [kAll, vAll] = opts.cache ? opts.cache.append(k, v) : [k, v];
    const o = attend(q, kAll, vAll, { causal: opts.causal, mask: opts.mask, dropoutP: this.training ? this.attnDrop : 0 });
    return dropoutIfAny(this.proj.forward(mergeHeads(o)), this.projDrop, this.training);
  }

  /** [B, L, D] -> q, k, v each [B, H, L, hd] */
  projectQKV(x: Tensor): [Tensor, Tensor, Tensor] {
    const [b, l, d] = x.shape;
    if (d !== this.dim) throw new Error(`Attention: input [${x.shape}] has width ${d}, expected ${this.dim}`);
    // timm's layout of the fused weight (q rows, then k, then v). Unbinding [B, L, 3, H, hd] along
    // its own axis (not timm's permute to [3, B, H, L, hd] first) makes the backward's stack land
    // in qkv's layout, which saves a full-size copy of the gradient per layer.
    const qkv = this.qkv.forward(x).view(b, l, 3, this.heads, this.headDim).unbind(2);
    return qkv.map((t) => t.transpose(1, 2)) as [Tensor, Tensor, Tensor];
  }
}

export interface CrossAttentionOpts extends AttentionOpts {}

/**
 * Cross-attention x [B, Lq, D] -> ctx [B, Lk, Dc]: `q` Linear(D, D), fused `kv` Linear(Dc, 2D),
 * `proj` Linear(D, D). The context's keys/values can be projected once (`projectKV`) and reused
 * across decoding steps, since the condition does not change while sampling.
 */
export class CrossAttention extends Module {
  readonly headDim: number;
  readonly q: Linear;
  readonly kv: Linear;
  readonly proj: Linear;
  readonly attnDrop: number;
  readonly projDrop: number;

  constructor(
    readonly dim: number,
    readonly ctxDim: number,
    readonly heads: number,
    o: CrossAttentionOpts = {},
  ) {
    super();
    this.headDim = checkHeads('CrossAttention', dim, heads);
    this.q = this.registerModule('q', new Linear(dim, dim, o.qkvBias ?? false, o));
    this.kv = this.registerModule('kv', new Linear(ctxDim, 2 * dim, o.qkvBias ?? false, o));
    this.proj = this.registerModule('proj', new Linear(dim, dim, o.projBias ?? true, o));
    this.attnDrop = o.attnDrop ?? 0;
    this.projDrop = o.projDrop ?? 0;
  }

  /** ctx [B, Lk, Dc] -> k, v each [B, H, Lk, hd] */
  projectKV(ctx: Tensor): [Tensor, Tensor] {
    const [b, lk, dc] = ctx.shape;
    if (dc !== this.ctxDim) throw new Error(`CrossAttention: context [${ctx.shape}] has width ${dc}, expected ${this.ctxDim}`);
    // [B, Lk, 2, H, hd] -> [2, B, H, Lk, hd]
    const kv = this.kv.forward(ctx).view(b, lk, 2, this.heads, this.headDim).permute(2, 0, 3, 1, 4);
    return kv.unbind(0) as [Tensor, Tensor];
  }

  /** `ctx` is the context [B, Lk, Dc], or its keys/values from `projectKV`. */
  forward(x: Tensor, ctx: Tensor | [Tensor, Tensor], opts: { mask?: Tensor | null } = {}): Tensor {
    const [b, lq, d] = x.shape;
    if (d !== this.dim) throw new Error(`CrossAttention: input [${x.shape}] has width ${d}, expected ${this.dim}`);
    const q = this.q.forward(x).view(b, lq, this.heads, this.headDim).transpose(1, 2); // [B, H, Lq, hd]
    const [k, v] = Array.isArray(ctx) ? ctx : this.projectKV(ctx);
    const o = attend(q, k, v, { mask: opts.mask, dropoutP: this.training ? this.attnDrop : 0 });
    return dropoutIfAny(this.proj.forward(mergeHeads(o)), this.projDrop, this.training);
  }
}

/**
 * Keys and values of past positions, preallocated as [B, H, maxLen, hd] buffers `k_cache` and
 * `v_cache` (LlamaGen's names; they are buffers there too, so they appear in its state dict).
 * `append` writes the next positions and returns views over everything written so far; `reset`
 * starts a new sequence without reallocating. Decoding runs under noGrad: the writes are in place.
 */
export class KVCache extends Module {
  readonly kCache: Tensor;
  readonly vCache: Tensor;
  private len = 0;

  constructor(
    readonly batch: number,
    readonly heads: number,
    readonly maxLen: number,
    readonly headDim: number,
    o: { dtype?: torch.DType; device?: string; persistent?: boolean } = {},
  ) {
    super();
    const shape = [batch, heads, maxLen, headDim];
    const t = { dtype: o.dtype, device: o.device };
    this.kCache = this.registerBuffer('k_cache', torch.zeros(shape, t), o.persistent ?? true);
    this.vCache = this.registerBuffer('v_cache', torch.zeros(shape, t), o.persistent ?? true);
  }

  /** Number of positions written. */
  get length(): number {
    return this.len;
  }

  reset(): void {
    this.len = 0;
  }

  /** k, v [B, H, L, hd] for positions length..length+L-1 -> all keys/values [B, H, length+L, hd]. */
  append(k: Tensor, v: Tensor): [Tensor, Tensor] {
    const l = k.shape[2];
    this.check(k, 'k');
    this.check(v, 'v');
    if (this.len + l > this.maxLen) {
      throw new Error(`KVCache: appending ${l} positions after ${this.len} exceeds maxLen ${this.maxLen}`);
    }
    torch.noGrad(() => {
      torch.tidy(() => {
        this.kCache.narrow(2, this.len, l).copy_(k);
        this.vCache.narrow(2, this.len, l).copy_(v);
      });
    });
    this.len += l;
    return [this.kCache.narrow(2, 0, this.len), this.vCache.narrow(2, 0, this.len)];
  }

  /**
   * LlamaGen's `update(input_pos, k, v)`: writes k, v [B, H, L, hd] at positions `inputPos` [L]
   * (int64) and returns the whole buffers; the caller masks positions not yet written.
   */
  update(inputPos: Tensor, k: Tensor, v: Tensor): [Tensor, Tensor] {
    this.check(k, 'k');
    this.check(v, 'v');
    torch.noGrad(() => {
      torch.callOpVoid('aten::index_copy_', this.kCache, 2, inputPos, k);
      torch.callOpVoid('aten::index_copy_', this.vCache, 2, inputPos, v);
    });
    return [this.kCache, this.vCache];
  }

  private check(t: Tensor, name: string): void {
    const [b, h, , hd] = t.shape;
    if (t.ndim !== 4 || b !== this.batch || h !== this.heads || hd !== this.headDim) {
      throw new Error(`KVCache: ${name} has shape [${t.shape}], expected [${this.batch}, ${this.heads}, L, ${this.headDim}]`);
    }
  }
}
