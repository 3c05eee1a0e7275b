// Named tokenizer presets. `vq16` and `kl16` are the official LlamaGen VQ-16 and MAR KL-16 (their
// state-dict names and shapes are pinned by test/fixtures/keys_*.json); the `_fmnist` presets share one
// 8×8 grid on 32×32 Fashion-MNIST (downsampling 4), so VQ code i and KL latent i cover the same patch
// (DESIGN: D2C stage-2 conditioning); the `_c32`/`_c64` presets are their colour counterparts for a
// user's own 32×32 / 64×64 images, again one 8×8 grid for VQ and KL (downsampling 4 and 8), sized
// for a CPU, with what the Fashion-MNIST tokenizers learned (docs/study): a coarse 256-code VQ with
// MaskGIT's entropy loss for full codebook use, and an 8-channel KL that holds clearly more than the
// VQ; the `_tiny` presets are the reference fixtures' configs.

import type { InitOpts } from '../nn/layers.ts';
import * as torch from '../torch/index.ts';
import { AutoencoderKL, KL_DEFAULTS, type KLConfig, klDownsample } from './kl.ts';
import { VQ_DEFAULTS, type VQConfig, VQModel, vqDownsample } from './vq.ts';

export type TokenizerKind = 'vq' | 'kl';
export type Tokenizer = VQModel | AutoencoderKL;

const COLOUR = { inChannels: 3, outChannels: 3 };
/** The colour VQs' codebook: coarse on purpose, spread over every code by the entropy loss. */
const COARSE = { codebookSize: 256, entropyLossRatio: 0.1 };

export const VQ_PRESETS = {
  vq16: { ...VQ_DEFAULTS }, // 71.9M  LlamaGen VQ_16: 16384×8 codebook, ch_mult [1,1,2,2,4], z 256, 256px → 16×16
  vq_fmnist: vqSmall({ codebookSize: 512, zChannels: 64, ch: 32, numResBlocks: 1 }), // 1.08M  32×32×1 → 8×8 codes
  vq_c32: vqSmall({ ...COARSE, ...COLOUR, zChannels: 64, ch: 32, numResBlocks: 1 }), // 1.14M  32×32×3 → 8×8 codes
  vq_c64: vqSmall({
    ...COARSE,
    ...COLOUR,
    zChannels: 64,
    ch: 32,
    numResBlocks: 1,
    encoderChMult: [1, 1, 2, 2],
    decoderChMult: [1, 1, 2, 2],
  }), // 1.21M  64×64×3 → 8×8 codes
  vq_tiny: vqSmall({
    codebookSize: 64,
    zChannels: 32,
    ch: 32,
    numResBlocks: 2,
    encoderChMult: [1, 2],
    decoderChMult: [1, 2],
    inChannels: 3,
    outChannels: 3,
  }), // 0.96M  fixture llamagen_vq_tiny
} satisfies Record<string, VQConfig>;

export const KL_PRESETS = {
  kl16: { ...KL_DEFAULTS }, // 66.5M  MAR KL-16: embed 16, ch_mult [1,1,2,2,4], 256px → 16×16×16, scale 0.2325
  kl_fmnist: klSmall({ embedDim: 4, ch: 32, numResBlocks: 1 }), // 0.97M  32×32×1 → 8×8×4 latents
  kl_c32: klSmall({ ...COLOUR, embedDim: 8, ch: 32, numResBlocks: 1 }), // 0.98M  32×32×3 → 8×8×8 latents
  kl_c64: klSmall({ ...COLOUR, embedDim: 8, ch: 32, numResBlocks: 1, chMult: [1, 1, 2, 2], resolution: 64 }), // 1.05M  64×64×3 → 8×8×8
  kl_tiny: klSmall({
    embedDim: 4,
    ch: 32,
    numResBlocks: 2,
    chMult: [1, 2],
    inChannels: 3,
    outChannels: 3,
    resolution: 256,
    attnResolutions: [16],
  }), // 0.84M  fixture mar_vae_tiny
} satisfies Record<string, KLConfig>;

function vqSmall(o: Partial<VQConfig>): VQConfig {
  return { ...VQ_DEFAULTS, encoderChMult: [1, 2, 2], decoderChMult: [1, 2, 2], inChannels: 1, outChannels: 1, ...o };
}

function klSmall(o: Partial<KLConfig>): KLConfig {
  // scaleFactor 1 until a trained model is measured (estimateScaleFactor); attention at the 8×8 level.
  return {
    ...KL_DEFAULTS,
    chMult: [1, 2, 2],
    inChannels: 1,
    outChannels: 1,
    resolution: 32,
    attnResolutions: [8],
    scaleFactor: 1,
    ...o,
  };
}

/**
 * The image side each preset is made for (its training data's): the default `--size` of `train
 * tokenizer`. The tokenizers are convolutional and run at other sizes too.
 */
const PRESET_IMAGE_SIZES: Record<string, number> = {
  vq16: 256,
  kl16: 256,
  vq_fmnist: 32,
  kl_fmnist: 32,
  vq_c32: 32,
  kl_c32: 32,
  vq_c64: 64,
  kl_c64: 64,
  vq_tiny: 256,
  kl_tiny: 256,
};

export function presetImageSize(preset: string): number | undefined {
  return PRESET_IMAGE_SIZES[preset];
}

export type VQPresetName = keyof typeof VQ_PRESETS;
export type KLPresetName = keyof typeof KL_PRESETS;

/** The config of a named preset with overrides applied; throws on an unknown name or field. */
export function vqConfig(preset: string, overrides: Partial<VQConfig> = {}): VQConfig {
  const base = (VQ_PRESETS as Record<string, VQConfig>)[preset];
  if (!base) throw new Error(`unknown VQ preset '${preset}' (known: ${Object.keys(VQ_PRESETS).join(', ')})`);
  checkFields(overrides, base, `VQ preset ${preset}`);
  return structuredClone({ ...base, ...overrides });
}

export function klConfig(preset: string, overrides: Partial<KLConfig> = {}): KLConfig {
  const base = (KL_PRESETS as Record<string, KLConfig>)[preset];
  if (!base) throw new Error(`unknown KL preset '${preset}' (known: ${Object.keys(KL_PRESETS).join(', ')})`);
  checkFields(overrides, base, `KL preset ${preset}`);
  return structuredClone({ ...base, ...overrides });
}

function checkFields(overrides: object, base: object, what: string): void {
  const bad = Object.keys(overrides).filter((k) => !(k in base));
  if (bad.length > 0) throw new Error(`${what}: unknown config field(s) ${bad.join(', ')}`);
}

/** Builds a tokenizer from a preset name (+ overrides), with freshly initialised weights. */
export function buildTokenizer(
  kind: TokenizerKind,
  preset: string,
  overrides: Partial<VQConfig> | Partial<KLConfig> = {},
  o: InitOpts = {},
): Tokenizer {
  if (kind === 'vq') return new VQModel(vqConfig(preset, overrides as Partial<VQConfig>), o);
  if (kind === 'kl') return new AutoencoderKL(klConfig(preset, overrides as Partial<KLConfig>), o);
  throw new Error(`unknown tokenizer kind '${kind}' (expected 'vq' or 'kl')`);
}

/** What a checkpoint folder's config.json says about a tokenizer (scripts/convert_checkpoint.py writes it). */
export interface TokenizerCheckpointConfig {
  kind: TokenizerKind;
  preset: string;
  config?: Partial<VQConfig> | Partial<KLConfig>;
}

/**
 * A tokenizer from a checkpoint's parsed config.json and its weights (loaded with strict names, so a
 * checkpoint of another architecture fails naming every differing key). The caller reads the files.
 */
export function tokenizerFromCheckpoint(
  doc: TokenizerCheckpointConfig,
  weights: Map<string, torch.Tensor>,
  o: InitOpts = {},
): Tokenizer {
  if (doc.kind !== 'vq' && doc.kind !== 'kl')
    throw new Error(`checkpoint kind '${doc.kind}' is not a tokenizer (expected 'vq' or 'kl')`);
  const model = buildTokenizer(doc.kind, doc.preset, doc.config ?? {}, o);
  model.loadStateDict(weights, true);
  return model.eval();
}

/**
 * The state dict `{name: shape}` of a preset, built on the `meta` device so no weights are allocated
 * (vq16/kl16 are ~70M parameters).
 */
export function stateDictShapes(
  kind: TokenizerKind,
  preset: string,
  overrides: Partial<VQConfig> | Partial<KLConfig> = {},
): Record<string, number[]> {
  const m = buildTokenizer(kind, preset, overrides, { device: 'meta' });
  const out: Record<string, number[]> = {};
  for (const [k, t] of m.stateDict()) out[k] = t.shape;
  return out;
}

/** Parameter count of a preset (no allocation). */
export function presetParameters(kind: TokenizerKind, preset: string): number {
  return buildTokenizer(kind, preset, {}, { device: 'meta' }).numParameters();
}

/** Latent grid side for an image side: the same for the `_fmnist` VQ and KL presets by design. */
export function gridSize(kind: TokenizerKind, preset: string, imageSize: number): number {
  const f = kind === 'vq' ? vqDownsample(vqConfig(preset)) : klDownsample(klConfig(preset));
  if (imageSize % f !== 0)
    throw new Error(`image size ${imageSize} is not a multiple of the ${kind} preset ${preset}'s downsampling ${f}`);
  return imageSize / f;
}

/** LDM/MAR's latent scale: 1 / std of the (unscaled) posterior means over a sample of images. */
export function estimateScaleFactor(model: AutoencoderKL, images: torch.Tensor): number {
  return torch.noGrad(() => torch.tidy(() => 1 / model.encode(images).mode().std().item()));
}
