// The networks the two-stage sampler calls, as functions of named tensors for the tracer. Each
// graph is traced at three size points (batch, sequence position, kept tokens …) and merged into
// one size-polymorphic ONNX graph: nothing here is specific to one model folder, only to d2c's
// module APIs (GPT.prefill/decode with its KV cache, MAR's encoder/decoder with its fusion, the
// diffusion head's denoiser, the tokenizers' decoders).
import type { SimpleMLPAdaLN } from '../generators/diffloss.ts';
import type { GPT } from '../generators/gpt.ts';
import type { D2C } from '../pipeline/d2c.ts';
import type { VQModel } from '../tokenizers/vq.ts';
import type { Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';

export interface GraphSpec {
  name: string;
  /** What the graph computes, for the manifest. */
  doc: string;
  /** Named inputs at size point k (0, 1, 2: each point changes every dynamic size). */
  inputs(k: number): Record<string, Tensor>;
  run(x: Record<string, Tensor>): Record<string, Tensor>;
  /** Names of the dynamic dims of each input, for the ONNX value infos (null = fixed). */
  dims: Record<string, (string | null)[]>;
}

/** The size points traced (0..2) and the one the parity test checks (3, traced never). */
export const TRACE_POINTS = [0, 1, 2];
const BATCH = [2, 3, 5, 4];

function randInt(shape: number[], hi: number, seed: number): Tensor {
  return torch.randint(0, hi, shape, { generator: new torch.Generator(seed) });
}
function randn(shape: number[], seed: number): Tensor {
  return torch.randn(shape, { generator: new torch.Generator(seed) });
}

/** The graphs of a loaded model (float32, cpu, eval). */
export function graphSpecs(d2c: D2C): GraphSpec[] {
  return [...gptGraphs(d2c), ...marGraphs(d2c), ...decoderGraphs(d2c)];
}

/** Stage 1 and the VQ, absent from a MAR-only model folder. */
function stageOne(d2c: D2C): { gpt: GPT; vq: VQModel } | null {
  const gpt = d2c.stage1 as GPT | null;
  const vq = d2c.vq as VQModel | null;
  return gpt && vq ? { gpt, vq } : null;
}

function gptGraphs(d2c: D2C): GraphSpec[] {
  const one = stageOne(d2c);
  if (!one) return [];
  const gpt = one.gpt;
  const c = gpt.config;
  const S = c.clsTokenNum + c.blockSize;
  const H = c.nHead;
  const Dh = c.dim / c.nHead;
  const cacheNames = [...gpt.layers].flatMap((_, i) => [`past_k${i}`, `past_v${i}`]);
  const presentNames = (n: string) => n.replace('past_', 'present_');
  const cacheDims = Object.fromEntries(cacheNames.map((n) => [n, ['rows', null, null, null]]));
  const caches = (R: number, seed: number) =>
    Object.fromEntries(cacheNames.map((n, i) => [n, randn([R, H, S, Dh], seed + i).mul(0.5)]));
  // The KV cache is a graph input and output of full length S; a step writes its position in place.
  const withCaches = (x: Record<string, Tensor>, step: () => Tensor) => {
    [...gpt.layers].forEach((layer, i) => {
      layer.attention.cache = { k: x[`past_k${i}`], v: x[`past_v${i}`] };
    });
    try {
      const logits = step();
      const out: Record<string, Tensor> = { logits };
      [...gpt.layers].forEach((layer, i) => {
        const cache = layer.attention.cache;
        if (!cache) throw new Error('gpt graph: the KV cache went missing');
        out[presentNames(`past_k${i}`)] = cache.k;
        out[presentNames(`past_v${i}`)] = cache.v;
      });
      return out;
    } finally {
      for (const layer of gpt.layers) layer.attention.cache = null;
    }
  };
  const rowsOf = (k: number) => 2 * BATCH[k];
  return [
    {
      name: 'gpt_prefill',
      doc: 'stage 1: class labels [rows] (the null class is numClasses) → logits [rows, V] of the first code, KV caches with position 0 written',
      inputs: (k) => ({ labels: randInt([rowsOf(k)], c.numClasses + 1, 10 + k), ...caches(rowsOf(k), 20 + k) }),
      run: (x) => withCaches(x, () => gpt.prefill(x.labels)),
      dims: { labels: ['rows'], ...cacheDims },
    },
    {
      name: 'gpt_decode',
      doc: 'stage 1: the previous code [rows, 1] at position P = positions.length − 1 → logits [rows, V] of the next code, KV caches with position P written',
      // P = clsTokenNum + i for code i; a step reads only the caches' first P + 1 positions
      inputs: (k) => {
        const P = [3, 7, 12, 20][k] % S;
        return {
          code: randInt([rowsOf(k), 1], c.vocabSize, 30 + k),
          positions: torch.arange(0, P + 1, 1, { dtype: 'int64' }),
          ...caches(rowsOf(k), 40 + k),
        };
      },
      run: (x) => withCaches(x, () => gpt.decode(x.code, x.positions.shape[0] - 1)),
      dims: { code: ['rows', null], positions: ['position'], ...cacheDims },
    },
  ];
}

function marGraphs(d2c: D2C): GraphSpec[] {
  const mar = d2c.stage2;
  const L = mar.seqLen;
  const C = mar.tokenEmbedDim;
  const De = mar.cfg.encoderEmbedDim;
  const fused = mar.cfg.fusion !== 'none';
  const kept = [Math.max(1, L >> 2), L >> 1, L - 1, Math.max(1, (3 * L) >> 3)];
  const specs: GraphSpec[] = [];
  specs.push({
    name: 'mar_condition',
    doc: 'stage 2: class labels [B] (and stage-1 codes [B, L] unless the fusion is none) → class embeddings [B, De] (and code features F [B, L, Dc]); the unconditional rows use fake_latent and null_cond from the manifest',
    inputs: (k) => {
      const x: Record<string, Tensor> = { labels: randInt([BATCH[k]], mar.cfg.classNum, 50 + k) };
      if (fused) x.codes = randInt([BATCH[k], L], mar.cfg.codebookSize, 60 + k);
      return x;
    },
    run: (x) => {
      const out: Record<string, Tensor> = { class_emb: mar.class_emb.forward(x.labels) };
      const F = fused ? mar.encodeCondition(x.codes) : null;
      if (F) out.features = F;
      return out;
    },
    dims: { labels: ['batch'], codes: ['batch', null] },
  });
  specs.push({
    name: 'mar_forward',
    doc: 'stage 2: tokens [B, L, C], mask [B, L] (1 = still masked; every row masks as many), class embeddings [B, De] (and F [B, L, Dc]) → diffusion conditions z [B, L, Dd]',
    inputs: (k) => {
      const B = BATCH[k];
      const orders = torch.rand([B, L], { generator: new torch.Generator(70 + k) }).argsort(-1);
      const mask = torch.ones([B, L]).scatter(-1, orders.narrow(1, 0, kept[k]), 0);
      const x: Record<string, Tensor> = {
        tokens: randn([B, L, C], 80 + k),
        mask,
        class_emb: randn([B, De], 90 + k),
      };
      if (fused) x.features = randn([B, L, mar.cfg.discEmbedDim], 100 + k);
      return x;
    },
    run: (x) => {
      const F = x.features ?? null;
      const enc = mar.forwardMaeEncoder(x.tokens, x.mask, x.class_emb, F);
      return { z: mar.forwardMaeDecoder(enc, x.mask, F) };
    },
    dims: { tokens: ['batch', null, null], mask: ['batch', null], class_emb: ['batch', null], features: ['batch', null, null] },
  });
  specs.push(
    denoiseSpec(
      'diffusion_denoise',
      "stage 2's diffusion head: x_t [N, C], original timesteps t [N] (int64), conditions z [N, Dd] → [N, 2C] (ε̂, then the σ fraction)",
      mar,
      mar.diffloss.net,
      110,
    ),
  );
  if (mar.diffloss.guided_net)
    specs.push(
      denoiseSpec(
        'diffusion_denoise_guided',
        "stage 2's distilled head: x_t [N, C], original timesteps t [N] (int64), conditional z [N, Dd], guidance scales w [N] → [N, 2C] (the guided ε̂, then the σ fraction)",
        mar,
        mar.diffloss.guided_net,
        160,
      ),
    );
  return specs;
}

/** A diffusion head as a graph (x, t, z; and w, the guidance scale, for a distilled head), its inputs seeded from `seed`. */
function denoiseSpec(name: string, doc: string, mar: D2C['stage2'], net: SimpleMLPAdaLN, seed: number): GraphSpec {
  const T = mar.diffloss.trainDiffusion.numTimesteps;
  const C = mar.tokenEmbedDim;
  const withW = net.guidance_embed !== null;
  return {
    name,
    doc,
    inputs: (k) => {
      const N = [3, 8, 13, 6][k];
      const x: Record<string, Tensor> = {
        x: randn([N, C], seed + k),
        t: randInt([N], T, seed + 10 + k),
        z: randn([N, mar.cfg.decoderEmbedDim], seed + 20 + k),
      };
      if (withW)
        x.w = torch
          .rand([N], { generator: new torch.Generator(seed + 30 + k) })
          .mul(4)
          .add(1);
      return x;
    },
    run: (x) => ({ out: net.forward(x.x, x.t, x.z, x.w) }),
    dims: { x: ['tokens', null], t: ['tokens'], z: ['tokens', null], ...(withW ? { w: ['tokens'] } : {}) },
  };
}

function decoderGraphs(d2c: D2C): GraphSpec[] {
  const mar = d2c.stage2;
  const specs: GraphSpec[] = [];
  const one = stageOne(d2c);
  if (one) {
    const side = Math.round(Math.sqrt(one.gpt.config.blockSize));
    specs.push({
      name: 'vq_decode',
      doc: 'VQ codes [B, h, w] → coarse preview images [B, C, H, W] (unclamped)',
      inputs: (k) => ({ codes: randInt([BATCH[k], side, side], one.gpt.config.vocabSize, 140 + k) }),
      run: (x) => ({ images: one.vq.decodeCodes(x.codes) }),
      dims: { codes: ['batch', null, null] },
    });
  }
  specs.push({
    name: 'kl_decode',
    doc: 'scaled KL latents [B, C, h, w] → images [B, C, H, W] (unclamped)',
    inputs: (k) => ({ latents: randn([BATCH[k], mar.cfg.vaeEmbedDim, mar.seqH, mar.seqH], 150 + k) }),
    run: (x) => ({ images: d2c.kl.decodeLatents(x.latents) }),
    dims: { latents: ['batch', null, null, null] },
  });
  return specs;
}
