// MAR: masked autoregressive generation of continuous latents with a per-token diffusion head
// (Li et al. 2024; LTH14/mar models/mar.py), with the D2C conditioning on stage-1 codes
// (fusion.ts). Parameter names are the reference's, so the official checkpoints load with
// fusion 'none'. Training: random order, a masking ratio from a truncated normal, masked tokens
// dropped from the encoder (MAE), the decoder fills them with mask tokens, and the diffusion loss
// is taken on the masked positions. Sampling lives in mar_sample.ts.

import { normal_, xavierUniform_, zeros_ } from '../nn/init.ts';
import { Embedding, type InitOpts, LayerNorm, Linear } from '../nn/layers.ts';
import { Module, ModuleList } from '../nn/module.ts';
import type { Generator, Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';
import { DiffLoss } from './diffloss.ts';
import {
  checkFusion,
  corruptCodes,
  crossWindowMask,
  DiscreteEncoder,
  dropCondition,
  type Fusion,
  initVit,
  QFormer,
} from './fusion.ts';
import { Block } from './vit.ts';

export interface MARConfig {
  imgSize: number;
  vaeStride: number;
  patchSize: number;
  encoderEmbedDim: number;
  encoderDepth: number;
  encoderNumHeads: number;
  decoderEmbedDim: number;
  decoderDepth: number;
  decoderNumHeads: number;
  mlpRatio: number;
  /** Channels of the KL latents (16 for KL-16, 4 for kl_fmnist); tokens have vaeEmbedDim·p² values. */
  vaeEmbedDim: number;
  maskRatioMin: number;
  labelDropProb: number;
  classNum: number;
  attnDropout: number;
  projDropout: number;
  bufferSize: number;
  difflossD: number;
  difflossW: number;
  numSamplingSteps: string;
  diffusionBatchMul: number;
  /**
   * A second, guidance-distilled diffusion head (DiffLoss.guided_net, `d2c train guided-head`):
   * guidance from one row per token, so sampling skips the unconditional pass.
   */
  guidedHead: boolean;
  /** The largest guidance scale the distilled head is trained for (scales drawn from [1, guidedHeadMaxCfg]). */
  guidedHeadMaxCfg: number;
  // ---- D2C conditioning (fusion.ts) ----
  fusion: Fusion;
  codebookSize: number;
  discEmbedDim: number;
  discDepth: number;
  discNumHeads: number;
  qformerDepth: number;
  condDropProb: number;
  codeCorruptProb: number;
  /** Code mixing in training: the rate at which stage 1's teacher-forced draws replace the real codes. */
  codeMixRate: number;
  // ---- giving the attention fusions the code↔latent correspondence (docs/study, "The paper's fusions") ----
  /** Zero-initialised tanh gates on the fused branch (crossattn: each block; qformer: its output), Flamingo-style. */
  fusionGate: boolean;
  /**
   * 'tied': F's positions are MAR's own encoder positions of the same grid cells (needs discEmbedDim = encoderEmbedDim).
   * 'matched' (crossattn): each transformer adds its own positions of the cells to F before cross-attending, and each
   * block's key projection starts equal to its query projection, so a token first attends to its own cell's code.
   */
  fusionPos: FusionPos;
  /**
   * crossattn: 0 = every token attends to every cell of F; r > 0 = a grid token attends only to the
   * cells within r rows and columns of its own (fusion.ts crossWindowMask), buffer tokens to all.
   * The per-cell Q-Former (qformerPlace 'add'): the query of each cell likewise.
   */
  crossWindow: number;
  /**
   * With crossWindow > 0: a fixed logit added to the attention score of a token's (or a per-cell
   * query's) own cell, so attention starts out favouring the code `add` would give it. 0 = none.
   */
  crossSelfBias: number;
  /** Learning-rate multiplier of the fusion's own parameters (the discrete encoder, gates, cross-attention, Q-Former). */
  fusionLrScale: number;
  /** Q-Former queries; 0 = one per buffer token ('buffer' placement) or per grid cell ('add'). */
  qformerQueries: number;
  /** Where the Q-Former's outputs go: MAR's buffer tokens, or added to the tokens of their grid cells. */
  qformerPlace: QFormerPlace;
}

export const FUSION_POS = ['own', 'tied', 'matched'] as const;
export type FusionPos = (typeof FUSION_POS)[number];
export const QFORMER_PLACES = ['buffer', 'add'] as const;
export type QFormerPlace = (typeof QFORMER_PLACES)[number];

const MAR_DEFAULTS: MARConfig = {
  imgSize: 256,
  vaeStride: 16,
  patchSize: 1,
  encoderEmbedDim: 1024,
  encoderDepth: 16,
  encoderNumHeads: 16,
  decoderEmbedDim: 1024,
  decoderDepth: 16,
  decoderNumHeads: 16,
  mlpRatio: 4,
  vaeEmbedDim: 16,
  maskRatioMin: 0.7,
  labelDropProb: 0.1,
  classNum: 1000,
  attnDropout: 0.1,
  projDropout: 0.1,
  bufferSize: 64,
  difflossD: 3,
  difflossW: 1024,
  numSamplingSteps: '100',
  diffusionBatchMul: 4,
  guidedHead: false,
  guidedHeadMaxCfg: 5,
  fusion: 'none',
  codebookSize: 16384, // LlamaGen VQ-16
  discEmbedDim: 768,
  discDepth: 2,
  discNumHeads: 12,
  qformerDepth: 2,
  condDropProb: 0.1,
  codeCorruptProb: 0,
  codeMixRate: 0,
  fusionGate: false,
  fusionPos: 'own',
  crossWindow: 0,
  crossSelfBias: 0,
  fusionLrScale: 1,
  qformerQueries: 0,
  qformerPlace: 'buffer',
};

const backbone = (d: number, depth: number, heads: number, headD: number, headW: number): Partial<MARConfig> => ({
  encoderEmbedDim: d,
  encoderDepth: depth,
  encoderNumHeads: heads,
  decoderEmbedDim: d,
  decoderDepth: depth,
  decoderNumHeads: heads,
  difflossD: headD,
  difflossW: headW,
  discEmbedDim: d,
  discNumHeads: heads,
});

/** Lighter diffusion sampling and training for the CPU presets, and the code corruption of the shipped model. */
const CPU_SIZED = { numSamplingSteps: '50', diffusionBatchMul: 2, codeCorruptProb: 0.05 };

export const MAR_PRESETS = {
  mar_base: { ...MAR_DEFAULTS, ...backbone(768, 12, 12, 6, 1024) }, // 208.3M (fusion none)
  mar_large: { ...MAR_DEFAULTS, ...backbone(1024, 16, 16, 8, 1280) }, // 478.9M
  mar_huge: { ...MAR_DEFAULTS, ...backbone(1280, 20, 16, 12, 1536) }, // 942.7M
  // Fashion-MNIST: 32 px, KL stride 4 -> 8×8 tokens of kl_fmnist's 4 channels; codes of vq_fmnist (512).
  mar_fmnist: {
    ...MAR_DEFAULTS,
    ...backbone(192, 2, 4, 3, 256),
    imgSize: 32,
    vaeStride: 4,
    vaeEmbedDim: 4,
    classNum: 10,
    bufferSize: 16,
    codebookSize: 512,
    discDepth: 2,
    qformerDepth: 1,
  }, // 3.3M (fusion none)
  // A user's colour images: 8×8 tokens of kl_c32 (32 px, stride 4) / kl_c64 (64 px, stride 8), codes
  // of vq_c32 / vq_c64 (256); the class count is the token cache's.
  mar_c32: marColour(32, 4), // 3.2M (fusion none)
  mar_c64: marColour(64, 8), // 3.2M (fusion none)
  // The reference fixture test/fixtures/reference/mar_tiny.json.
  mar_tiny: {
    ...MAR_DEFAULTS,
    ...backbone(64, 2, 4, 2, 64),
    imgSize: 64,
    classNum: 10,
    bufferSize: 4,
    numSamplingSteps: '10',
    codebookSize: 64,
    discDepth: 1,
    qformerDepth: 1,
  }, // 0.26M (fusion none)
} satisfies Record<string, MARConfig>;

/** The colour presets: the same CPU-sized MAR over an 8×8 grid of 8-channel latents at either size. */
function marColour(imgSize: number, vaeStride: number): MARConfig {
  return {
    ...MAR_DEFAULTS,
    ...backbone(192, 2, 4, 3, 256),
    imgSize,
    vaeStride,
    vaeEmbedDim: 8,
    classNum: 10,
    bufferSize: 16,
    codebookSize: 256,
    discDepth: 2,
    qformerDepth: 1,
    ...CPU_SIZED,
  };
}

export type MARPresetName = keyof typeof MAR_PRESETS;

/** A preset's config with overrides (e.g. `{ fusion: 'qformer' }`); unknown names and fields throw. */
export function marConfig(preset: string, overrides: Partial<MARConfig> = {}): MARConfig {
  const base = (MAR_PRESETS as Record<string, MARConfig>)[preset];
  if (!base) throw new Error(`unknown MAR preset '${preset}' (known: ${Object.keys(MAR_PRESETS).join(', ')})`);
  const bad = Object.keys(overrides).filter((k) => !(k in base));
  if (bad.length > 0) throw new Error(`MAR preset ${preset}: unknown config field(s) ${bad.join(', ')}`);
  const cfg = { ...base, ...overrides };
  checkFusion(cfg.fusion);
  checkFusionVariant(cfg);
  return cfg;
}

/** The fusion variants' fields, each naming what is wrong. */
export function checkFusionVariant(c: MARConfig): void {
  const oneOf = (k: string, v: unknown, allowed: readonly string[]) => {
    if (!allowed.includes(v as string))
      throw new Error(`MAR: ${k} must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
  };
  oneOf('fusionPos', c.fusionPos, FUSION_POS);
  oneOf('qformerPlace', c.qformerPlace, QFORMER_PLACES);
  if (typeof c.fusionGate !== 'boolean')
    throw new Error(`MAR: fusionGate must be true or false, got ${JSON.stringify(c.fusionGate)}`);
  if (!(c.fusionLrScale > 0)) throw new Error(`MAR: fusionLrScale must be a number > 0, got ${JSON.stringify(c.fusionLrScale)}`);
  if (!Number.isInteger(c.crossWindow) || c.crossWindow < 0)
    throw new Error(`MAR: crossWindow must be an integer ≥ 0, got ${JSON.stringify(c.crossWindow)}`);
  if (
    c.crossWindow > 0 &&
    c.fusion !== 'crossattn' &&
    c.fusion !== 'none' &&
    !(c.fusion === 'qformer' && c.qformerPlace === 'add')
  )
    throw new Error(`MAR: crossWindow is for crossattn and the per-cell Q-Former (qformerPlace 'add'), got fusion '${c.fusion}'`);
  if (!(Number.isFinite(c.crossSelfBias) && c.crossSelfBias >= 0))
    throw new Error(`MAR: crossSelfBias must be a finite number ≥ 0, got ${JSON.stringify(c.crossSelfBias)}`);
  if (c.crossSelfBias > 0 && c.crossWindow === 0)
    throw new Error('MAR: crossSelfBias needs local attention (crossWindow > 0); with crossWindow=0 set crossSelfBias=0 too');
  if (typeof c.guidedHead !== 'boolean')
    throw new Error(`MAR: guidedHead must be true or false, got ${JSON.stringify(c.guidedHead)}`);
  if (!(Number.isFinite(c.guidedHeadMaxCfg) && c.guidedHeadMaxCfg > 1))
    throw new Error(`MAR: guidedHeadMaxCfg must be a number > 1, got ${JSON.stringify(c.guidedHeadMaxCfg)}`);
  if (!Number.isInteger(c.qformerQueries) || c.qformerQueries < 0)
    throw new Error(`MAR: qformerQueries must be an integer ≥ 0, got ${JSON.stringify(c.qformerQueries)}`);
  if (c.fusionPos === 'tied' && c.fusion !== 'none' && c.discEmbedDim !== c.encoderEmbedDim)
    throw new Error(`MAR: fusionPos 'tied' needs discEmbedDim (${c.discEmbedDim}) = encoderEmbedDim (${c.encoderEmbedDim})`);
  if (c.fusionPos === 'matched' && c.fusion !== 'crossattn' && c.fusion !== 'none')
    throw new Error(`MAR: fusionPos 'matched' is for the crossattn fusion, got fusion '${c.fusion}'`);
  if (
    c.fusionPos === 'matched' &&
    c.fusion === 'crossattn' &&
    (c.discEmbedDim !== c.encoderEmbedDim || c.discEmbedDim !== c.decoderEmbedDim)
  )
    throw new Error(
      `MAR: fusionPos 'matched' needs discEmbedDim (${c.discEmbedDim}) = encoderEmbedDim (${c.encoderEmbedDim}) = decoderEmbedDim (${c.decoderEmbedDim})`,
    );
  const L = (c.imgSize / c.vaeStride / c.patchSize) ** 2;
  if (c.fusion === 'qformer' && c.qformerPlace === 'add' && c.qformerQueries !== 0 && c.qformerQueries !== L)
    throw new Error(`MAR: qformerPlace 'add' needs one query per grid cell: qformerQueries 0 or ${L}, got ${c.qformerQueries}`);
  if (c.fusion === 'qformer' && c.qformerPlace === 'buffer' && c.qformerQueries !== 0 && c.qformerQueries !== c.bufferSize)
    throw new Error(
      `MAR: qformerPlace 'buffer' fills the ${c.bufferSize} buffer tokens: qformerQueries must be 0 or ${c.bufferSize}, got ${c.qformerQueries}`,
    );
}

/** Standard normal CDF through erf (float64). */
function normalCdf(x: number): number {
  return 0.5 * (1 + erf(x / Math.SQRT2));
}
function erf(x: number): number {
  return torch.tidy(() => torch.callOp<Tensor>('aten::erf', torch.tensor([x], { dtype: 'float64' })).item());
}
/** Inverse standard normal CDF through erfinv (float64). */
function normalPpf(p: number): number {
  return (
    torch.tidy(() => torch.callOp<Tensor>('aten::erfinv', torch.tensor([2 * p - 1], { dtype: 'float64' })).item()) * Math.SQRT2
  );
}

export class MAR extends Module {
  readonly seqH: number;
  readonly seqLen: number;
  readonly tokenEmbedDim: number;

  readonly class_emb: Embedding;
  readonly fake_latent: Tensor; // [1, De]
  readonly z_proj: Linear;
  readonly z_proj_ln: LayerNorm;
  readonly encoder_pos_embed_learned: Tensor; // [1, buf + L, De]
  readonly encoder_blocks: ModuleList<Block>;
  readonly encoder_norm: LayerNorm;
  readonly decoder_embed: Linear;
  readonly mask_token: Tensor; // [1, 1, Dd]
  readonly decoder_pos_embed_learned: Tensor; // [1, buf + L, Dd]
  readonly decoder_blocks: ModuleList<Block>;
  readonly decoder_norm: LayerNorm;
  readonly diffusion_pos_embed_learned: Tensor; // [1, L, Dd]
  readonly diffloss: DiffLoss;
  // D2C (absent with fusion 'none')
  readonly disc_encoder: DiscreteEncoder | null = null;
  readonly null_cond: Tensor | null = null; // [1, 1, Dc]
  readonly qformer: QFormer | null = null;
  readonly fusion_enc_proj: Linear | null = null;
  readonly fusion_dec_proj: Linear | null = null;
  readonly fusion_gate: Tensor | null = null; // [1]: qformer's gate (crossattn's are in its blocks)
  // crossWindow > 0 (not saved: derived from the config)
  readonly cross_window: Tensor | null = null; // bool (or additive, crossSelfBias) [buf + L, L]: the cells each sequence position sees (crossattn)
  readonly qformer_window: Tensor | null = null; // bool (or additive) [L, L]: the cells each per-cell query sees (qformer)
  readonly seq_index: Tensor | null = null; // int64 [1, buf + L]: 0, 1, …, buf + L − 1
  // prefix: F → L tokens before the sequence, with their own positions in both transformers
  readonly prefix_proj: Linear | null = null;
  readonly prefix_pos_embed: Tensor | null = null; // [1, L, De]
  readonly decoder_prefix_pos_embed: Tensor | null = null; // [1, L, Dd]

  constructor(
    readonly cfg: MARConfig,
    o: InitOpts = {},
  ) {
    super();
    const c = cfg;
    checkFusion(c.fusion);
    this.seqH = c.imgSize / c.vaeStride / c.patchSize;
    if (!Number.isInteger(this.seqH)) throw new Error(`MAR: imgSize ${c.imgSize} is not a multiple of vaeStride·patchSize`);
    this.seqLen = this.seqH * this.seqH;
    this.tokenEmbedDim = c.vaeEmbedDim * c.patchSize ** 2;
    const [De, Dd, Dc, L, buf] = [c.encoderEmbedDim, c.decoderEmbedDim, c.discEmbedDim, this.seqLen, c.bufferSize];
    const g = o.generator;
    const param = (name: string, shape: number[]) => {
      const p = this.registerParameter(name, torch.zeros(shape, o));
      normal_(p, 0, 0.02, g);
      return p;
    };
    const crossDim = c.fusion === 'crossattn' ? Dc : undefined;
    const crossGate = c.fusion === 'crossattn' && c.fusionGate;
    const blockOpts = { ...o, mlpRatio: c.mlpRatio, attnDrop: c.attnDropout, projDrop: c.projDropout, crossDim, crossGate };
    const blocks = (n: number, d: number, heads: number) =>
      new ModuleList(Array.from({ length: n }, () => new Block(d, heads, blockOpts)));

    this.class_emb = this.registerModule('class_emb', new Embedding(c.classNum, De, o));
    this.fake_latent = param('fake_latent', [1, De]);
    this.z_proj = this.registerModule('z_proj', new Linear(this.tokenEmbedDim, De, true, o));
    this.z_proj_ln = this.registerModule('z_proj_ln', new LayerNorm(De, 1e-6, true, o));
    this.encoder_pos_embed_learned = param('encoder_pos_embed_learned', [1, L + buf, De]);
    this.encoder_blocks = this.registerModule('encoder_blocks', blocks(c.encoderDepth, De, c.encoderNumHeads));
    this.encoder_norm = this.registerModule('encoder_norm', new LayerNorm(De, 1e-6, true, o));
    this.decoder_embed = this.registerModule('decoder_embed', new Linear(De, Dd, true, o));
    this.mask_token = param('mask_token', [1, 1, Dd]);
    this.decoder_pos_embed_learned = param('decoder_pos_embed_learned', [1, L + buf, Dd]);
    this.decoder_blocks = this.registerModule('decoder_blocks', blocks(c.decoderDepth, Dd, c.decoderNumHeads));
    this.decoder_norm = this.registerModule('decoder_norm', new LayerNorm(Dd, 1e-6, true, o));
    this.diffusion_pos_embed_learned = param('diffusion_pos_embed_learned', [1, L, Dd]);
    initVit(this, g); // Xavier Linears, zero biases, N(0, 0.02) class embedding (initialize_weights)
    if (c.fusion === 'crossattn' && c.fusionPos === 'matched') keysFromQueries([...this.encoder_blocks, ...this.decoder_blocks]);
    if (c.fusion === 'crossattn' && c.crossWindow > 0) {
      this.cross_window = this.registerBuffer(
        'cross_window',
        crossWindowMask(buf, this.seqH, c.crossWindow, o.device, c.crossSelfBias),
        false,
      );
      const index = torch.tensor(
        BigInt64Array.from({ length: buf + L }, (_, i) => BigInt(i)),
        { shape: [1, buf + L], device: o.device },
      );
      this.seq_index = this.registerBuffer('seq_index', index, false);
    }

    if (c.fusion !== 'none') {
      const disc = {
        codebookSize: c.codebookSize,
        seqLen: L,
        dim: Dc,
        depth: c.discDepth,
        heads: c.discNumHeads,
        mlpRatio: c.mlpRatio,
        ownPos: c.fusionPos !== 'tied',
      };
      this.disc_encoder = this.registerModule('disc_encoder', new DiscreteEncoder(disc, o));
      this.null_cond = param('null_cond', [1, 1, Dc]);
    }
    const qformerAdds = c.fusion === 'qformer' && c.qformerPlace === 'add';
    if (c.fusion === 'qformer') {
      const numQueries = c.qformerQueries || (qformerAdds ? L : buf);
      const q = { numQueries, dim: De, ctxDim: Dc, depth: c.qformerDepth, heads: c.encoderNumHeads, mlpRatio: c.mlpRatio };
      this.qformer = this.registerModule('qformer', new QFormer(q, o));
      if (c.crossWindow > 0)
        this.qformer_window = this.registerBuffer(
          'qformer_window',
          crossWindowMask(0, this.seqH, c.crossWindow, o.device, c.crossSelfBias),
          false,
        );
      // One query per grid cell starts as MAR's position of that cell: it knows where it will be added.
      if (c.fusionPos === 'tied' && numQueries === L)
        torch.noGrad(() => this.qformer?.queries.copy_(this.cellPositions(this.encoder_pos_embed_learned)));
      if (c.fusionGate) this.fusion_gate = this.registerParameter('fusion_gate', torch.zeros([1], o));
    }
    if (c.fusion === 'add' || qformerAdds) {
      const Dfused = qformerAdds ? De : Dc;
      this.fusion_enc_proj = this.registerModule('fusion_enc_proj', new Linear(Dfused, De, true, o));
      this.fusion_dec_proj = this.registerModule('fusion_dec_proj', new Linear(Dfused, Dd, true, o));
      for (const l of [this.fusion_enc_proj, this.fusion_dec_proj]) {
        xavierUniform_(l.weight, 1, g);
        zeros_(l.bias as Tensor);
      }
    }

    if (c.fusion === 'prefix') {
      this.prefix_proj = this.registerModule('prefix_proj', new Linear(Dc, De, true, o));
      xavierUniform_(this.prefix_proj.weight, 1, g);
      zeros_(this.prefix_proj.bias as Tensor);
      this.prefix_pos_embed = param('prefix_pos_embed', [1, L, De]);
      this.decoder_prefix_pos_embed = param('decoder_prefix_pos_embed', [1, L, Dd]);
    }

    // The diffusion head keeps its own init (created after MAR's initialize_weights in the reference).
    this.diffloss = this.registerModule(
      'diffloss',
      new DiffLoss(
        {
          targetChannels: this.tokenEmbedDim,
          zChannels: Dd,
          width: c.difflossW,
          depth: c.difflossD,
          numSamplingSteps: c.numSamplingSteps,
          guidedHead: c.guidedHead,
        },
        o,
      ),
    );
  }

  /** Latents [B, C, H, W] -> tokens [B, L, C·p²] (row-major over the grid). */
  patchify(x: Tensor): Tensor {
    const [B, C, H, W] = x.shape;
    const p = this.cfg.patchSize;
    const h = x.reshape(B, C, H / p, p, W / p, p).permute(0, 2, 4, 1, 3, 5); // [B, h, w, C, p, p]
    return h.reshape(B, (H / p) * (W / p), C * p * p);
  }

  /** Tokens [B, L, C·p²] -> latents [B, C, H, W]. */
  unpatchify(x: Tensor): Tensor {
    const B = x.shape[0];
    const [p, C, h] = [this.cfg.patchSize, this.cfg.vaeEmbedDim, this.seqH];
    const t = x.reshape(B, h, h, C, p, p).permute(0, 3, 1, 4, 2, 5); // [B, C, h, p, w, p]
    return t.reshape(B, C, h * p, h * p);
  }

  /** A random generation order per row: [B, L] int64, each row a permutation of 0..L-1. */
  sampleOrders(B: number, generator?: Generator): Tensor {
    return torch.rand([B, this.seqLen], { generator, device: this.fake_latent.device, batchDim: 0 }).argsort(-1);
  }

  /** The masking ratio: a normal centred on 1 with σ 0.25, truncated to [maskRatioMin, 1]. */
  sampleMaskRatio(generator?: Generator): number {
    const a = normalCdf((this.cfg.maskRatioMin - 1) / 0.25);
    const u = torch.tidy(() => torch.rand([1], { generator, dtype: 'float64' }).item());
    return 1 + 0.25 * normalPpf(a + u * (0.5 - a));
  }

  /** mask [B, L] float: 1 on the first ⌈L·ratio⌉ positions of each order (to predict), 0 elsewhere. */
  randomMasking(orders: Tensor, ratio: number): Tensor {
    const [B, L] = orders.shape;
    const n = Math.ceil(L * ratio);
    return maskByOrder(orders, n, B, L);
  }

  /** Stage-1 codes [B, L] -> features F [B, L, Dc], with corruption and condition dropout in training. */
  encodeCondition(codes: Tensor | null, generator?: Generator): Tensor | null {
    if (!this.disc_encoder || !this.null_cond) return null;
    if (codes === null) throw new Error(`MAR: fusion '${this.cfg.fusion}' needs the stage-1 codes`);
    const c = this.training ? corruptCodes(codes, this.cfg.codeCorruptProb, this.cfg.codebookSize, generator) : codes;
    const F = this.disc_encoder.forward(c, this.tiedPositions());
    if (!this.training || this.cfg.condDropProb <= 0) return this.perCell(F);
    const drop = torch.rand([codes.shape[0]], { generator, device: codes.device, batchDim: 0 }).lt(this.cfg.condDropProb);
    return this.perCell(dropCondition(F, this.null_cond, drop));
  }

  /** F for rows that drop the discrete condition (unconditional CFG branch): the null feature. */
  nullCondition(B: number): Tensor | null {
    if (!this.null_cond) return null;
    return this.perCell(this.null_cond.expand(B, this.seqLen, this.cfg.discEmbedDim));
  }

  /** MAR's encoder positions of the grid cells [1, L, De], when F's positions are tied to them. */
  private tiedPositions(): Tensor | undefined {
    if (this.cfg.fusionPos !== 'tied') return undefined;
    return this.cellPositions(this.encoder_pos_embed_learned);
  }

  /** A transformer's position embedding [1, buf + L, D] without its buffer: the grid cells' [1, L, D]. */
  private cellPositions(positions: Tensor): Tensor {
    return positions.narrow(1, this.cfg.bufferSize, this.seqLen);
  }

  /** What a transformer's blocks cross-attend to: F, plus that transformer's positions [1, buf + L, D] of the cells when matched. */
  private crossContext(F: Tensor | null, positions: Tensor): Tensor | undefined {
    if (!F) return undefined;
    if (this.cfg.fusion !== 'crossattn' || this.cfg.fusionPos !== 'matched') return F;
    return F.add(this.cellPositions(positions));
  }

  /**
   * The local cross-attention mask (crossWindow > 0): for the encoder's kept tokens (`keep` [B, buf + L])
   * [B, 1, buf + kept, L]; for the decoder's full sequence (`keep` null) [1, 1, buf + L, L].
   */
  private crossMask(keep: Tensor | null): Tensor | undefined {
    if (!this.cross_window || !this.seq_index) return undefined;
    if (!keep) return this.cross_window.unsqueeze(0).unsqueeze(0);
    const B = keep.shape[0];
    const rows = this.seq_index.expand(B, this.seq_index.shape[1]).index([keep]).view(B, -1); // [B, buf + kept]
    return this.cross_window.index([rows]).unsqueeze(1);
  }

  /** With the Q-Former placed per cell, F becomes its outputs [B, L, De] (added like the add fusion's). */
  private perCell(F: Tensor): Tensor {
    return this.qformer && this.cfg.qformerPlace === 'add' ? this.qformer.forward(null, F, this.qformer_window ?? undefined) : F;
  }

  /** The fused branch times tanh(gate) when gated (0 at init: plain MAR). */
  private gated(x: Tensor): Tensor {
    return this.fusion_gate ? x.mul(this.fusion_gate.tanh()) : x;
  }

  /** The learning-rate multiplier of a parameter: fusionLrScale for the fusion's own, 1 for MAR's. */
  lrScaleOf(name: string): number {
    return this.isFusionParameter(name) ? this.cfg.fusionLrScale : 1;
  }

  /** Whether a parameter belongs to the fusion (the discrete encoder, gates, cross-attention, Q-Former, projections). */
  isFusionParameter(name: string): boolean {
    return /^(disc_encoder|null_cond|qformer|fusion_|prefix_|decoder_prefix_)|\.(norm_cross|cross_attn|cross_gate)(\.|$)/.test(
      name,
    );
  }

  /**
   * Tokens [B, L, C], mask [B, L], class embedding [B, De] -> encoded kept tokens [B, buf + kept, De]
   * ([B, L + buf + kept, De] with the prefix fusion: the L code tokens come first).
   */
  forwardMaeEncoder(x: Tensor, mask: Tensor, classEmb: Tensor, F: Tensor | null = null, generator?: Generator): Tensor {
    const B = mask.shape[0];
    const De = this.cfg.encoderEmbedDim;
    let h = this.z_proj.forward(x); // [B, L, De]
    if (this.fusion_enc_proj && F) h = h.add(this.gated(this.fusion_enc_proj.forward(F)));
    const cls = this.training ? this.dropClass(classEmb, generator) : classEmb;
    const plain = cls.unsqueeze(1).expand(B, this.cfg.bufferSize, De);
    const buffer = this.qformer && F && this.cfg.qformerPlace === 'buffer' ? this.qformerBuffer(plain, cls, F) : plain;
    h = torch.cat([buffer, h], 1).add(this.encoder_pos_embed_learned); // [B, buf + L, De]
    h = this.z_proj_ln.forward(h);
    // MAE: only the buffer and the known tokens enter the encoder (every row keeps as many).
    const keep = this.keepMask(mask);
    h = h.index([keep]).view(B, -1, De); // [B, buf + kept, De]
    if (this.prefix_proj && this.prefix_pos_embed && F) {
      const p = this.z_proj_ln.forward(this.prefix_proj.forward(F).add(this.prefix_pos_embed)); // [B, L, De]
      h = torch.cat([p, h], 1);
    }
    const ctx = this.crossContext(F, this.encoder_pos_embed_learned);
    const ctxMask = this.crossMask(keep);
    for (const blk of this.encoder_blocks) h = blk.forward(h, ctx, ctxMask);
    return this.encoder_norm.forward(h);
  }

  /** Encoded [B, buf + kept, De] -> per-position conditions z [B, L, Dd] for the diffusion head. */
  forwardMaeDecoder(x: Tensor, mask: Tensor, F: Tensor | null = null): Tensor {
    const [B, L] = mask.shape;
    const [Dd, buf] = [this.cfg.decoderEmbedDim, this.cfg.bufferSize];
    let h = this.decoder_embed.forward(x);
    let prefix: Tensor | null = null;
    if (this.decoder_prefix_pos_embed) {
      prefix = h.narrow(1, 0, L).add(this.decoder_prefix_pos_embed); // the code tokens, [B, L, Dd]
      h = h.narrow(1, L, h.shape[1] - L);
    }
    let pad = this.mask_token.expand(B, buf + L, Dd); // [B, buf + L, Dd]
    if (this.fusion_dec_proj && F) {
      const add = this.gated(this.fusion_dec_proj.forward(F)); // [B, L, Dd]
      pad = torch.cat([pad.narrow(1, 0, buf), pad.narrow(1, buf, L).add(add)], 1);
    }
    const keep = this.keepMask(mask);
    let y = torch.callOp<Tensor>('aten::index_put', pad, [keep], h.reshape(-1, Dd), false);
    y = y.add(this.decoder_pos_embed_learned);
    if (prefix) y = torch.cat([prefix, y], 1); // [B, L + buf + L, Dd]
    const ctx = this.crossContext(F, this.decoder_pos_embed_learned);
    const ctxMask = this.crossMask(null);
    for (const blk of this.decoder_blocks) y = blk.forward(y, ctx, ctxMask);
    y = this.decoder_norm.forward(y);
    return y.narrow(1, y.shape[1] - L, L).add(this.diffusion_pos_embed_learned);
  }

  /** Mean diffusion loss on masked tokens, each repeated `diffusionBatchMul` times with fresh t and noise. */
  forwardLoss(z: Tensor, target: Tensor, mask: Tensor, generator?: Generator): Tensor {
    const [B, L, C] = target.shape;
    const k = this.cfg.diffusionBatchMul;
    const t = target.reshape(B * L, C).repeat(k, 1); // [k·B·L, C]
    const zz = z.reshape(B * L, -1).repeat(k, 1);
    const m = mask.reshape(B * L).repeat(k);
    return this.diffloss.forward(t, zz, m, generator, k);
  }

  /** Training loss for latents [B, C, H, W], labels [B] and (with a fusion) stage-1 codes [B, L]. */
  forward(latents: Tensor, labels: Tensor, codes: Tensor | null = null, generator?: Generator): Tensor {
    const classEmb = this.class_emb.forward(labels);
    const x = this.patchify(latents);
    const target = x.detach();
    const orders = this.sampleOrders(x.shape[0], generator);
    const mask = this.randomMasking(orders, this.sampleMaskRatio(generator));
    const F = this.encodeCondition(codes, generator);
    const enc = this.forwardMaeEncoder(x, mask, classEmb, F, generator);
    const z = this.forwardMaeDecoder(enc, mask, F);
    return this.forwardLoss(z, target, mask, generator);
  }

  /**
   * The distilled head's loss (DiffLoss.distillLoss) for latents [B, C, H, W], labels [B] and codes:
   * the transformer, frozen and run as in sampling (eval mode, no gradients), gives each masked
   * token its conditional z and its unconditional one (class and codes dropped, as cfgDrop 'both').
   * The masking ratio is uniform on (0, 1], not training's [maskRatioMin, 1]: sampling's later AR
   * steps predict tokens with most of the grid known, and the student must match the teacher there.
   */
  distillLoss(latents: Tensor, labels: Tensor, codes: Tensor | null = null, generator?: Generator): Tensor {
    if (this.training) throw new Error('MAR.distillLoss: the transformer must be in eval mode (it is the frozen teacher)');
    const x = this.patchify(latents);
    const [B, , C] = x.shape;
    const { zc, zu, target } = torch.noGrad(() => {
      const ratio = 1 - torch.tidy(() => torch.rand([1], { generator, dtype: 'float64' }).item());
      const mask = this.randomMasking(this.sampleOrders(B, generator), ratio);
      const cls = torch.cat([this.class_emb.forward(labels), this.fake_latent.expand(B, this.cfg.encoderEmbedDim)], 0);
      const Fc = this.encodeCondition(codes);
      const F = Fc ? torch.cat([Fc, this.nullCondition(B) as Tensor], 0) : null;
      const m2 = torch.cat([mask, mask], 0);
      const z = this.forwardMaeDecoder(this.forwardMaeEncoder(torch.cat([x, x], 0), m2, cls, F), m2, F);
      const sel = mask.ne(0);
      const [c, u] = z.split(B, 0);
      return { zc: c.index([sel]), zu: u.index([sel]), target: x.index([sel]).reshape(-1, C) };
    });
    const k = this.cfg.diffusionBatchMul; // as in training: each token k times, with its own t, noise and w
    return this.diffloss.distillLoss(target.repeat(k, 1), zc.repeat(k, 1), zu.repeat(k, 1), this.cfg.guidedHeadMaxCfg, generator);
  }

  /** The Q-Former's buffer tokens [B, buf, De]; gated, the class tokens plus tanh(gate) times its outputs. */
  private qformerBuffer(plain: Tensor, cls: Tensor, F: Tensor): Tensor {
    const q = (this.qformer as QFormer).forward(cls, F);
    return this.fusion_gate ? plain.add(this.gated(q)) : q;
  }

  /** Class embedding replaced by `fake_latent` with probability labelDropProb (for CFG). */
  private dropClass(classEmb: Tensor, generator?: Generator): Tensor {
    if (this.cfg.labelDropProb <= 0) return classEmb;
    const drop = torch
      .rand([classEmb.shape[0], 1], { generator, device: classEmb.device, batchDim: 0 })
      .lt(this.cfg.labelDropProb);
    return torch.where(drop, this.fake_latent, classEmb);
  }

  /** [B, buf + L] bool: true for the buffer and the known (unmasked) tokens. */
  private keepMask(mask: Tensor): Tensor {
    const B = mask.shape[0];
    const buf = torch.ones([B, this.cfg.bufferSize], { dtype: 'bool', device: mask.device });
    return torch.cat([buf, mask.eq(0)], 1);
  }
}

/** Each block's cross-attention key projection (the first half of `kv`) set equal to its query projection. */
function keysFromQueries(blocks: Block[]): void {
  torch.noGrad(() => {
    for (const b of blocks) {
      const xa = b.cross_attn;
      if (!xa) continue;
      xa.kv.weight.narrow(0, 0, xa.dim).copy_(xa.q.weight);
      if (xa.kv.bias && xa.q.bias) xa.kv.bias.narrow(0, 0, xa.dim).copy_(xa.q.bias);
    }
  });
}

/** [B, L] float mask with ones at the first `n` positions of each row's order. */
export function maskByOrder(orders: Tensor, n: number, B: number, L: number): Tensor {
  const m = torch.zeros([B, L], { device: orders.device });
  if (n <= 0) return m;
  return m.scatter(-1, orders.narrow(1, 0, n), 1);
}

/** `{name: shape}` of a preset's state dict, built on the meta device (no weights allocated). */
export function marStateDictShapes(preset: string, overrides: Partial<MARConfig> = {}): Record<string, number[]> {
  const m = new MAR(marConfig(preset, overrides), { device: 'meta' });
  const out: Record<string, number[]> = {};
  for (const [k, t] of m.stateDict()) out[k] = t.shape;
  return out;
}
