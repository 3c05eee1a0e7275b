// Stage 1 of D2C: LlamaGen's class-conditional GPT over VQ codes
// (FoundationVision/LlamaGen autoregressive/models/gpt.py, the `c2i` Transformer).
//
// A Llama-style decoder: pre-RMSNorm blocks of causal self-attention with 2-D RoPE and a SwiGLU
// MLP. The sequence is one class token (its embedding table has an extra null-class row for
// classifier-free guidance) followed by the grid's codes in raster order; position i predicts code i.
// Parameter names equal the reference's, so converted public checkpoints (c2i_B_256.pt …) load as is.
// Sampling with a KV cache lives in gpt_sample.ts.

import { normal_, zeros_ } from '../nn/init.ts';
import { addResidual, dropoutIfAny, Embedding, Linear, RMSNorm } from '../nn/layers.ts';
import { swigluHidden } from '../nn/mlp.ts';
import { Module, ModuleList } from '../nn/module.ts';
import type { DType, Generator, Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';
import { applyRope, type Rope2d, rope2d, ropeRows } from './rope.ts';

export interface GPTConfig {
  dim: number;
  nLayer: number;
  nHead: number;
  /** SwiGLU hidden size = 2/3·4·dim (times ffnDimMultiplier), rounded up to a multiple of this */
  multipleOf: number;
  ffnDimMultiplier: number | null;
  ropeBase: number;
  normEps: number;
  /** std of the normal init of every Linear and Embedding weight */
  initializerRange: number;
  tokenDropoutP: number;
  residDropoutP: number;
  ffnDropoutP: number;
  numClasses: number;
  /** probability of replacing the class by the null class in training (CFG); > 0 adds the null row */
  classDropoutProb: number;
  /** codebook size of the VQ tokenizer */
  vocabSize: number;
  /** class-prefix length; 1 for class conditioning (LlamaGen's c2i embeds one token per class) */
  clsTokenNum: number;
  /** number of codes, a square grid (256 = 16×16) */
  blockSize: number;
}

/** LlamaGen's ModelArgs defaults for class-conditional 256px ImageNet models. */
export const GPT_DEFAULTS: GPTConfig = {
  dim: 768,
  nLayer: 12,
  nHead: 12,
  multipleOf: 256,
  ffnDimMultiplier: null,
  ropeBase: 10000,
  normEps: 1e-5,
  initializerRange: 0.02,
  tokenDropoutP: 0.1,
  residDropoutP: 0.1,
  ffnDropoutP: 0.1,
  numClasses: 1000,
  classDropoutProb: 0.1,
  vocabSize: 16384,
  clsTokenNum: 1,
  blockSize: 256,
};

/** Presets (parameter counts with their vocabulary, grid and classes). */
export const GPT_PRESETS = {
  gpt_b: { nLayer: 12, nHead: 12, dim: 768 }, // 111M
  gpt_l: { nLayer: 24, nHead: 16, dim: 1024 }, // 343M
  gpt_xl: { nLayer: 36, nHead: 20, dim: 1280 }, // 775M
  gpt_fmnist: { nLayer: 6, nHead: 4, dim: 256, vocabSize: 512, blockSize: 64, numClasses: 10 }, // 5.3M
  // A user's colour images, 32 or 64 px: the 8×8 codes of vq_c32 / vq_c64 (256 codes). The class
  // count is the token cache's (`d2c train stage1` and `d2c fit` fill it in).
  gpt_c32: { nLayer: 6, nHead: 4, dim: 256, vocabSize: 256, blockSize: 64, numClasses: 10 }, // 5.3M
  gpt_c64: { nLayer: 6, nHead: 4, dim: 256, vocabSize: 256, blockSize: 64, numClasses: 10 }, // 5.3M
  gpt_test: { nLayer: 2, nHead: 4, dim: 64, multipleOf: 32, vocabSize: 32, blockSize: 16, numClasses: 4 }, // 0.11M
} satisfies Record<string, Partial<GPTConfig>>;
export type GPTPreset = keyof typeof GPT_PRESETS;

export function gptConfig(preset: GPTPreset, overrides: Partial<GPTConfig> = {}): GPTConfig {
  const p = GPT_PRESETS[preset];
  if (!p) throw new Error(`unknown GPT preset '${preset}' (expected one of ${Object.keys(GPT_PRESETS).join(', ')})`);
  // As the VQ, KL and MAR configs do: a typo in a --set override must not pass silently.
  const bad = Object.keys(overrides).filter((k) => !(k in GPT_DEFAULTS));
  if (bad.length > 0)
    throw new Error(
      `GPT preset ${preset}: unknown config field(s) ${bad.join(', ')} (known: ${Object.keys(GPT_DEFAULTS).join(', ')})`,
    );
  return { ...GPT_DEFAULTS, ...p, ...overrides };
}

/** A config from LlamaGen's ModelArgs field names (snake_case, e.g. a fixture's or checkpoint's config). */
export function gptConfigFromArgs(args: Record<string, unknown>): GPTConfig {
  const camel = (k: string) => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  const out: Record<string, unknown> = { ...GPT_DEFAULTS };
  for (const [k, v] of Object.entries(args)) {
    const key = k === 'n_layer' ? 'nLayer' : camel(k);
    if (key in GPT_DEFAULTS) out[key] = v;
  }
  return out as unknown as GPTConfig;
}

/** SwiGLU hidden size, as LlamaGen's FeedForward computes it. */
export function ffnHiddenDim(c: GPTConfig): number {
  return swigluHidden(c.dim, c.multipleOf, c.ffnDimMultiplier);
}

function validate(c: GPTConfig): void {
  if (c.dim % c.nHead !== 0) throw new Error(`GPT: dim ${c.dim} not divisible by nHead ${c.nHead}`);
  const g = Math.round(Math.sqrt(c.blockSize));
  if (g * g !== c.blockSize) throw new Error(`GPT: blockSize ${c.blockSize} is not a square grid`);
  // LlamaGen's c2i LabelEmbedder yields one token per class, so a longer prefix would misalign RoPE.
  if (c.clsTokenNum !== 1) throw new Error(`GPT: clsTokenNum must be 1 for class conditioning, got ${c.clsTokenNum}`);
}

interface Opts {
  generator?: Generator;
}

export class FeedForward extends Module {
  readonly w1: Linear;
  readonly w3: Linear;
  readonly w2: Linear;

  constructor(
    readonly config: GPTConfig,
    o: Opts = {},
  ) {
    super();
    const h = ffnHiddenDim(config);
    this.w1 = this.registerModule('w1', new Linear(config.dim, h, false, o));
    this.w3 = this.registerModule('w3', new Linear(config.dim, h, false, o));
    this.w2 = this.registerModule('w2', new Linear(h, config.dim, false, o));
  }

  forward(x: Tensor, gen?: Generator): Tensor {
    const gated = torch.F.silu(this.w1.forward(x)).mul(this.w3.forward(x));
    return dropoutIfAny(this.w2.forward(gated), this.config.ffnDropoutP, this.training, gen);
  }
}

/** Keys and values of past positions for one layer: [B, H, S, Dh] each. */
interface KVCache {
  k: Tensor;
  v: Tensor;
}

export class Attention extends Module {
  readonly wqkv: Linear;
  readonly wo: Linear;
  readonly nHead: number;
  readonly headDim: number;
  /** Not a buffer: LlamaGen's checkpoints hold no caches; set by GPT.setupCaches. */
  cache: KVCache | null = null;

  constructor(
    readonly config: GPTConfig,
    o: Opts = {},
  ) {
    super();
    this.nHead = config.nHead;
    this.headDim = config.dim / config.nHead;
    this.wqkv = this.registerModule('wqkv', new Linear(config.dim, 3 * config.dim, false, o));
    this.wo = this.registerModule('wo', new Linear(config.dim, config.dim, false, o));
  }

  /**
   * x [B, L, D] at positions start..start+L (rope rows for them), or [B, D] for one position (a
   * decoding step: 2-D rows go through the Linears without matmul's reshapes); `start` ≥ 0 uses
   * the cache.
   */
  forward(x: Tensor, rope: Rope2d, start: number | null, gen?: Generator): Tensor {
    const rows = x.ndim === 2;
    const [B, L, D] = rows ? [x.shape[0], 1, x.shape[1]] : x.shape;
    const H = this.nHead;
    // split, not narrow: the backward of a split is one cat, that of each narrow a zero-filled
    // full-size gradient plus an add
    const [qkIn, vIn] = this.wqkv
      .forward(x)
      .view(B, L, 3 * H, this.headDim)
      .split([2 * H, H], 2);
    const [qIn, kIn] = applyRope(qkIn, rope).split(H, 2); // q and k rotated together
    const q = qIn.transpose(1, 2); // [B, H, L, Dh]
    let k = kIn.transpose(1, 2);
    let v = vIn.transpose(1, 2);
    let mask: Tensor | null = null;
    if (start !== null) [k, v, mask] = this.updateCache(k, v, start);
    const out = torch.F.scaledDotProductAttention(q, k, v, { mask, isCausal: start === null || (start === 0 && L > 1) });
    const merged = rows ? out.reshape(B, D) : out.transpose(1, 2).reshape(B, L, D); // [B, L, D] or [B, D]
    return dropoutIfAny(this.wo.forward(merged), this.config.residDropoutP, this.training, gen);
  }

  /** Writes k, v at start..start+L and returns the keys/values of positions 0..start+L (+ a mask if needed). */
  private updateCache(k: Tensor, v: Tensor, start: number): [Tensor, Tensor, Tensor | null] {
    const c = this.cache;
    if (c === null) throw new Error('Attention: no KV cache (call GPT.setupCaches first)');
    const L = k.shape[2];
    const S = c.k.shape[2];
    if (start + L > S) throw new Error(`Attention: positions ${start}..${start + L} exceed the cache length ${S}`);
    c.k.narrow(2, start, L).copy_(k);
    c.v.narrow(2, start, L).copy_(v);
    const keys = c.k.narrow(2, 0, start + L); // [B, H, start+L, Dh]
    const values = c.v.narrow(2, 0, start + L);
    // One new position attends to all cached ones; several new ones after a prefix need an offset causal mask.
    let mask: Tensor | null = null;
    if (L > 1 && start > 0) {
      const qi = torch.arange(start, start + L).view(L, 1);
      mask = torch
        .arange(0, start + L)
        .view(1, start + L)
        .le(qi); // [L, start+L]
    }
    return [keys, values, mask];
  }
}

export class TransformerBlock extends Module {
  readonly attention: Attention;
  readonly feed_forward: FeedForward;
  readonly attention_norm: RMSNorm;
  readonly ffn_norm: RMSNorm;

  constructor(config: GPTConfig, o: Opts = {}) {
    super();
    this.attention = this.registerModule('attention', new Attention(config, o));
    this.feed_forward = this.registerModule('feed_forward', new FeedForward(config, o));
    this.attention_norm = this.registerModule('attention_norm', new RMSNorm(config.dim, config.normEps));
    this.ffn_norm = this.registerModule('ffn_norm', new RMSNorm(config.dim, config.normEps));
  }

  forward(x: Tensor, rope: Rope2d, start: number | null, gen?: Generator): Tensor {
    const h = addResidual(x, this.attention.forward(this.attention_norm.forward(x), rope, start, gen));
    return addResidual(h, this.feed_forward.forward(this.ffn_norm.forward(h), gen));
  }
}

/** LlamaGen's LabelEmbedder: class → one token, with the null class as the extra last row. */
export class LabelEmbedder extends Module {
  readonly embedding_table: Embedding;

  constructor(
    readonly numClasses: number,
    dim: number,
    readonly dropoutProb: number,
    o: Opts = {},
  ) {
    super();
    this.embedding_table = this.registerModule('embedding_table', new Embedding(numClasses + (dropoutProb > 0 ? 1 : 0), dim, o));
  }

  /** labels [B] → [B, 1, D]; in training each label becomes the null class with probability dropoutProb. */
  forward(labels: Tensor, gen?: Generator): Tensor {
    let l = labels;
    if (this.training && this.dropoutProb > 0) {
      const drop = torch.rand([l.shape[0]], { generator: gen, device: l.device, batchDim: 0 }).lt(this.dropoutProb);
      l = torch.where(drop, this.numClasses, l);
    }
    return this.embedding_table.forward(l).unsqueeze(1);
  }
}

export class GPT extends Module {
  readonly cls_embedding: LabelEmbedder;
  readonly tok_embeddings: Embedding;
  readonly layers: ModuleList<TransformerBlock>;
  readonly norm: RMSNorm;
  readonly output: Linear;
  readonly gridSize: number;
  /** rotation tables for the class prefix + grid; a plain field, as LlamaGen's freqs_cis (not in the state dict) */
  private rope: Rope2d;

  constructor(
    readonly config: GPTConfig,
    o: Opts = {},
  ) {
    super();
    validate(config);
    const c = config;
    this.cls_embedding = this.registerModule('cls_embedding', new LabelEmbedder(c.numClasses, c.dim, c.classDropoutProb, o));
    this.tok_embeddings = this.registerModule('tok_embeddings', new Embedding(c.vocabSize, c.dim, o));
    this.layers = this.registerModule('layers', new ModuleList<TransformerBlock>());
    for (let i = 0; i < c.nLayer; i++) this.layers.push(new TransformerBlock(c, o));
    this.norm = this.registerModule('norm', new RMSNorm(c.dim, c.normEps));
    this.output = this.registerModule('output', new Linear(c.dim, c.vocabSize, false, o));
    this.gridSize = Math.round(Math.sqrt(c.blockSize));
    this.rope = torch.keep(rope2d(this.gridSize, c.dim / c.nHead, c.ropeBase, c.clsTokenNum));
    this.initWeights(o.generator);
  }

  /** LlamaGen's initialize_weights: N(0, initializer_range) for Linear/Embedding weights, zero output head. */
  private initWeights(gen?: Generator): void {
    for (const [name, p] of this.namedParameters()) {
      if (name.endsWith('norm.weight')) continue; // RMSNorm weights stay at one
      normal_(p, 0, this.config.initializerRange, gen);
    }
    zeros_(this.output.weight);
  }

  /** Moves the rotation tables with the parameters. */
  override to(target: torch.Device | DType): this {
    super.to(target);
    if (!torch.isDType(target)) {
      const r = this.rope;
      this.rope = torch.keep({ cis: r.cis.to(target) });
      r.cis.dispose();
    }
    return this;
  }

  /**
   * Training-style full forward: codes [B, L] (L ≤ blockSize, usually the grid minus its last code)
   * and labels [B] → logits [B, 1+L, V]; row i predicts code i.
   */
  forward(codes: Tensor, labels: Tensor, gen?: Generator): Tensor {
    const cls = this.cls_embedding.forward(labels, gen); // [B, 1, D]
    const tok = this.tok_embeddings.forward(codes); // [B, L, D]
    const h = dropoutIfAny(torch.cat([cls, tok], 1), this.config.tokenDropoutP, this.training, gen); // [B, 1+L, D]
    return this.head(this.blocks(h, null, gen));
  }

  /**
   * Next-token cross-entropy of codes [B, N] (the full grid) given labels [B], with class dropout
   * when training: LlamaGen's train_c2i objective (model(codes[:, :-1], labels) vs codes).
   */
  loss(codes: Tensor, labels: Tensor, gen?: Generator): Tensor {
    const [B, N] = codes.shape;
    if (N !== this.config.blockSize) throw new Error(`GPT.loss: expected ${this.config.blockSize} codes per row, got ${N}`);
    const logits = this.forward(codes.narrow(1, 0, N - 1), labels, gen); // [B, N, V]
    return torch.F.crossEntropy(logits.reshape(B * N, this.config.vocabSize), codes.reshape(B * N));
  }

  // ---- KV-cache inference ------------------------------------------------------------------

  /** Allocates per-layer caches for `batch` rows and `seqLen` positions (class prefix + codes). */
  setupCaches(batch: number, seqLen: number, dtype?: DType): void {
    this.clearCaches();
    const c = this.config;
    const device = this.output.weight.device;
    dtype ??= this.output.weight.dtype;
    const shape = [batch, c.nHead, seqLen, c.dim / c.nHead];
    for (const layer of this.layers) {
      layer.attention.cache = torch.keep({ k: torch.zeros(shape, { dtype, device }), v: torch.zeros(shape, { dtype, device }) });
    }
  }

  clearCaches(): void {
    for (const layer of this.layers) {
      torch.dispose(layer.attention.cache);
      layer.attention.cache = null;
    }
  }

  /** Class tokens at positions 0..clsTokenNum → logits [B, V] for the first code. */
  prefill(labels: Tensor): Tensor {
    const h = this.cls_embedding.forward(labels); // [B, 1, D]
    return this.lastLogits(this.blocks(h, 0));
  }

  /**
   * Codes [B, L] at sequence positions pos..pos+L (usually L = 1: one decoding step) → logits
   * [B, V] for the code after them.
   */
  decode(codes: Tensor, pos: number): Tensor {
    // one position goes through the blocks as [B, D] rows
    const h = this.tok_embeddings.forward(codes.shape[1] === 1 ? codes.view(-1) : codes); // [B, D] or [B, L, D]
    return this.lastLogits(this.blocks(h, pos));
  }

  // ---- steps shared by both paths ----------------------------------------------------------

  /** The transformer blocks over h [B, L, D] (or [B, D], one position) at positions start.. (0 when not cached). */
  private blocks(h: Tensor, start: number | null, gen?: Generator): Tensor {
    const L = h.ndim === 2 ? 1 : h.shape[1];
    const rope = ropeRows(this.rope, start ?? 0, L);
    for (const layer of this.layers) h = layer.forward(h, rope, start, gen);
    return h;
  }

  private head(h: Tensor): Tensor {
    const logits = this.output.forward(this.norm.forward(h)); // [B, L, V] or [B, V]
    return logits.dtype === 'float32' ? logits : logits.float();
  }

  private lastLogits(h: Tensor): Tensor {
    if (h.ndim === 2) return this.head(h); // [B, V]
    const L = h.shape[1];
    return this.head(h.narrow(1, L - 1, 1)).squeeze(1); // [B, V]
  }
}

/** A preset's state-dict names and shapes, without allocating its weights. */
export function gptStateShapes(config: GPTConfig): Record<string, number[]> {
  validate(config);
  const c = config;
  const hid = ffnHiddenDim(c);
  const out: Record<string, number[]> = {
    'cls_embedding.embedding_table.weight': [c.numClasses + (c.classDropoutProb > 0 ? 1 : 0), c.dim],
    'tok_embeddings.weight': [c.vocabSize, c.dim],
  };
  for (let i = 0; i < c.nLayer; i++) {
    const p = `layers.${i}`;
    out[`${p}.attention.wqkv.weight`] = [3 * c.dim, c.dim];
    out[`${p}.attention.wo.weight`] = [c.dim, c.dim];
    out[`${p}.feed_forward.w1.weight`] = [hid, c.dim];
    out[`${p}.feed_forward.w3.weight`] = [hid, c.dim];
    out[`${p}.feed_forward.w2.weight`] = [c.dim, hid];
    out[`${p}.attention_norm.weight`] = [c.dim];
    out[`${p}.ffn_norm.weight`] = [c.dim];
  }
  out['norm.weight'] = [c.dim];
  out['output.weight'] = [c.vocabSize, c.dim];
  return out;
}

/** Parameter count of a config, from its shapes. */
export function gptNumParams(config: GPTConfig): number {
  return Object.values(gptStateShapes(config)).reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0);
}
