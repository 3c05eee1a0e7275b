// D2C stage-2 conditioning on the stage-1 codes (DESIGN.md, "D2C stage 2 conditioning"): a
// discrete encoder turns the VQ code grid into features F (one per grid position, the same grid
// as MAR's latents); a fusion module brings F into MAR:
//   crossattn — every MAR block cross-attends to F (the `cross_attn` sub-layer of vit.ts's Block);
//   qformer   — learned queries (plus the class embedding) read F and fill MAR's buffer tokens;
//   add       — F projected and added per position to the encoder input and the decoder's mask tokens;
//   prefix    — F projected into L in-context tokens placed before MAR's sequence (DisCon, arXiv
//               2507.01756): the encoder and the decoder attend to them as to known tokens;
//   none      — plain MAR (LTH14/mar models/mar.py), which loads the official checkpoints.
// For classifier-free guidance the condition is dropped per sample (independently of the class)
// by swapping F for a learned null feature; training may corrupt a fraction of the codes to
// mimic stage-1 errors.

import { normal_, xavierUniform_, zeros_ } from '../nn/init.ts';
import { Embedding, type InitOpts, LayerNorm, Linear } from '../nn/layers.ts';
import { Module, ModuleList } from '../nn/module.ts';
import type { Generator, Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';
import { Block } from './vit.ts';

export const FUSIONS = ['none', 'crossattn', 'qformer', 'add', 'prefix'] as const;
export type Fusion = (typeof FUSIONS)[number];

/**
 * What choosing a fusion for a new model sets beside it: the variant that measured best
 * (docs/study/fusions.md). Both attention fusions are local, each token (crossattn) or each cell's
 * query (qformer, one query per cell, added to its cell's tokens) reading the codes of the cells
 * within one row and column of its own: at 1,000 steps 15.8 and 16.0 dB oracle against `add`'s 16.0
 * and global attention's 12.7–13.3. Both also start out favouring each token's own cell
 * (crossSelfBias 2: cross-attention 16.4 dB and FID 56.5, the Q-Former 16.5 dB and 56.1, `add` 55.4,
 * local without it 64.6 and 66.2). A model's config.json records the fields, so older checkpoints
 * load as trained.
 */
export const FUSION_VARIANTS: Readonly<Record<Fusion, Readonly<Record<string, unknown>>>> = {
  none: {},
  crossattn: { crossWindow: 1, crossSelfBias: 2 },
  qformer: { qformerPlace: 'add', crossWindow: 1, crossSelfBias: 2 },
  add: {},
  prefix: {},
};

/** The config fields of a new model with fusion `f`: the fusion and its variant's settings. */
export function fusionConfig(f: string): Record<string, unknown> {
  const fusion = checkFusion(f);
  return { fusion, ...FUSION_VARIANTS[fusion] };
}

export function checkFusion(f: string): Fusion {
  if (!(FUSIONS as readonly string[]).includes(f)) throw new Error(`unknown fusion '${f}' (expected ${FUSIONS.join(' | ')})`);
  return f as Fusion;
}

/**
 * Local cross-attention (crossWindow r > 0): which grid cells [L] each token of MAR's sequence
 * [buf + L] may attend to, as a bool [buf + L, L]. A buffer token sees every cell; the token of cell
 * (y, x) sees the cells within r rows and r columns of it (a (2r+1)² window, cut at the edges), so
 * the code-to-latent correspondence that `add` has by construction is given, not learned.
 * With `selfBias` b > 0 (crossSelfBias) the mask is additive instead: −∞ outside the window, 0 inside
 * and b on the token's own cell, a fixed prior towards the one code that `add` would give it.
 */
export function crossWindowMask(bufferSize: number, side: number, radius: number, device?: string, selfBias = 0): Tensor {
  const L = side * side;
  const allowed = new Uint8Array((bufferSize + L) * L);
  allowed.fill(1, 0, bufferSize * L);
  for (let i = 0; i < L; i++) {
    const [yi, xi] = [Math.floor(i / side), i % side];
    for (let j = 0; j < L; j++) {
      const near = Math.abs(Math.floor(j / side) - yi) <= radius && Math.abs((j % side) - xi) <= radius;
      allowed[(bufferSize + i) * L + j] = near ? 1 : 0;
    }
  }
  const shape = [bufferSize + L, L];
  if (selfBias === 0) return torch.tensor(allowed, { dtype: 'bool', shape, device });
  const additive = Float32Array.from(allowed, (a) => (a ? 0 : Number.NEGATIVE_INFINITY));
  for (let i = 0; i < L; i++) additive[(bufferSize + i) * L + i] = selfBias;
  return torch.tensor(additive, { shape, device });
}

/** MAE-style init of what the D2C modules add: N(0, 0.02) embeddings, Xavier Linears, zero biases. */
export function initVit(m: Module, g?: Generator): void {
  for (const [, sub] of m.namedModules()) {
    if (sub instanceof Linear) {
      xavierUniform_(sub.weight, 1, g);
      if (sub.bias) zeros_(sub.bias);
    } else if (sub instanceof Embedding) {
      normal_(sub.weight, 0, 0.02, g);
    }
  }
}

export interface DiscreteEncoderConfig {
  codebookSize: number;
  seqLen: number;
  dim: number;
  depth: number;
  heads: number;
  mlpRatio: number;
  /** false: the positions are given to forward (MAR's own, tied: fusionPos 'tied'), none are owned. */
  ownPos?: boolean;
}

/** Codes [B, L] (int64) -> features F [B, L, D]: embedding + learned positions + bidirectional blocks. */
export class DiscreteEncoder extends Module {
  readonly code_emb: Embedding;
  readonly pos_embed: Tensor | null = null; // [1, L, D]
  readonly blocks: ModuleList<Block>;
  readonly norm: LayerNorm;

  constructor(
    readonly cfg: DiscreteEncoderConfig,
    o: InitOpts = {},
  ) {
    super();
    const { dim } = cfg;
    this.code_emb = this.registerModule('code_emb', new Embedding(cfg.codebookSize, dim, o));
    if (cfg.ownPos ?? true) {
      this.pos_embed = this.registerParameter('pos_embed', torch.zeros([1, cfg.seqLen, dim], o));
      normal_(this.pos_embed, 0, 0.02, o.generator);
    }
    const blocks = Array.from({ length: cfg.depth }, () => new Block(dim, cfg.heads, { ...o, mlpRatio: cfg.mlpRatio }));
    this.blocks = this.registerModule('blocks', new ModuleList(blocks));
    this.norm = this.registerModule('norm', new LayerNorm(dim, 1e-6, true, o));
    initVit(this, o.generator);
  }

  /** codes [B, L] -> F [B, L, D]; `pos` [1, L, D] is required when the encoder owns no positions. */
  forward(codes: Tensor, pos?: Tensor): Tensor {
    const [, L] = codes.shape;
    if (L !== this.cfg.seqLen) throw new Error(`DiscreteEncoder: ${L} codes per image, expected ${this.cfg.seqLen}`);
    const p = this.pos_embed ?? pos;
    if (!p) throw new Error('DiscreteEncoder: tied positions need the `pos` argument');
    let x = this.code_emb.forward(codes).add(p); // [B, L, D]
    for (const blk of this.blocks) x = blk.forward(x);
    return this.norm.forward(x);
  }
}

export interface QFormerConfig {
  numQueries: number;
  dim: number;
  ctxDim: number;
  depth: number;
  heads: number;
  mlpRatio: number;
}

/**
 * A small Q-Former: learned queries [Q, D] plus the class embedding, then blocks of
 * self-attention, cross-attention to F and MLP. Its outputs are MAR's buffer tokens, or (one query
 * per grid cell, `qformerPlace` 'add') added to the tokens of their cells; then a window may limit
 * each query to the codes of the cells near its own (crossWindow).
 */
export class QFormer extends Module {
  readonly queries: Tensor; // [1, Q, D]
  readonly layers: ModuleList<Block>;
  readonly norm: LayerNorm;

  constructor(
    readonly cfg: QFormerConfig,
    o: InitOpts = {},
  ) {
    super();
    this.queries = this.registerParameter('queries', torch.zeros([1, cfg.numQueries, cfg.dim], o));
    normal_(this.queries, 0, 0.02, o.generator);
    const mk = () => new Block(cfg.dim, cfg.heads, { ...o, mlpRatio: cfg.mlpRatio, crossDim: cfg.ctxDim });
    this.layers = this.registerModule('layers', new ModuleList(Array.from({ length: cfg.depth }, mk)));
    this.norm = this.registerModule('norm', new LayerNorm(cfg.dim, 1e-6, true, o));
    initVit(this, o.generator);
  }

  /** classEmb [B, D] (null: queries alone), F [B, L, Dc], window (bool [Q, L]: the codes each query sees) -> [B, Q, D] */
  forward(classEmb: Tensor | null, F: Tensor, window?: Tensor): Tensor {
    const B = F.shape[0];
    let q = classEmb ? this.queries.add(classEmb.unsqueeze(1)) : this.queries.expand(B, -1, -1); // [B, Q, D]
    const mask = window?.unsqueeze(0).unsqueeze(0); // [1, 1, Q, L]
    for (const layer of this.layers) q = layer.forward(q, F, mask);
    return this.norm.forward(q);
  }
}

/** Replaces each code by a uniformly random one with probability `rate` (training only). */
export function corruptCodes(codes: Tensor, rate: number, codebookSize: number, generator?: Generator): Tensor {
  if (rate <= 0) return codes;
  const hit = torch.rand(codes.shape, { generator, device: codes.device, batchDim: 0 }).lt(rate);
  const random = torch.randint(0, codebookSize, codes.shape, { generator, device: codes.device, batchDim: 0 });
  return torch.where(hit, random, codes);
}

/**
 * Code mixing (MixAR's TI-Mix, arXiv 2511.12181): each code is replaced by the stage-1 model's own
 * prediction at its position with probability `rate`, so stage 2 trains on codes with the errors
 * of those it will be given at sampling. codes, predicted [B, L] int64.
 */
export function mixCodes(codes: Tensor, predicted: Tensor, rate: number, generator?: Generator): Tensor {
  if (!(rate >= 0 && rate <= 1)) throw new Error(`mixCodes: rate must be in [0, 1], got ${rate}`);
  if (JSON.stringify(codes.shape) !== JSON.stringify(predicted.shape))
    throw new Error(`mixCodes: codes [${codes.shape}] and predictions [${predicted.shape}] differ in shape`);
  if (rate === 0) return codes;
  const hit = torch.rand(codes.shape, { generator, device: codes.device }).lt(rate);
  return torch.where(hit, predicted, codes);
}

/** F [B, L, D] with the rows where `drop` [B] (bool) is set replaced by the null feature [1, 1, D]. */
export function dropCondition(F: Tensor, nullFeature: Tensor, drop: Tensor): Tensor {
  const [B, L, D] = F.shape;
  return torch.where(drop.view(B, 1, 1), nullFeature.expand(B, L, D), F);
}
