// manifest.json of an ONNX export: what the browser sampler (src/web/) reads besides the graphs.
// Types only, so the browser bundle can import it.
import type { D2CModelInfo } from '../pipeline/d2c.ts';

export interface GraphIO {
  name: string;
  /** Fixed sizes, or the name of a size that varies (batch, rows, position, tokens …). */
  dims: (number | string)[];
  /** ONNX TensorProto.DataType (1 float32, 7 int64, 9 bool). */
  elemType: number;
}

export interface WebManifest {
  format: 'd2c-onnx/1';
  opset: number;
  /** How the weights are stored (computation is float32 either way). */
  weights: 'float32' | 'float16';
  model: D2CModelInfo;
  /** Each part's config (vq, kl, stage1, stage2; a MAR-only model has kl and stage2). */
  parts: Record<string, { kind: string; preset: string; config: Record<string, unknown> }>;
  /** null for a MAR-only model (no stage 1, no VQ: no coarse previews). */
  stage1: {
    vocabSize: number;
    numClasses: number;
    /** The label of the unconditional (CFG) rows. */
    nullClass: number;
    blockSize: number;
    clsTokenNum: number;
    nLayer: number;
    nHead: number;
    headDim: number;
    /** Positions of the KV caches (class prefix + codes). */
    cacheLength: number;
    /** Whether the GPT has a null class (guidance possible). */
    guidable: boolean;
  } | null;
  stage2: {
    fusion: string;
    seqLen: number;
    seqH: number;
    patchSize: number;
    vaeEmbedDim: number;
    tokenEmbedDim: number;
    encoderEmbedDim: number;
    discEmbedDim: number;
    /** Respacing of the diffusion schedule ("50", "ddim25", …). */
    numSamplingSteps: string;
    numTimesteps: number;
    /** MAR's fake_latent [De]: the class embedding of unconditional rows. */
    fakeLatent: number[];
    /** null_cond [Dc]: the code features of unconditional rows (null with fusion none). */
    nullCond: number[] | null;
  };
  graphs: Record<string, { file: string; doc: string; inputs: GraphIO[]; outputs: GraphIO[] }>;
}
