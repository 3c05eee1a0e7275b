// A small CNN classifier of a dataset (Fashion-MNIST, or any ImageFolder such as the emoji set), the
// feature network of our FID/KID/IS/precision-recall (`fid_fmnist`, `fid_emoji`, ...: named after the
// dataset it was trained on, so no one mistakes them for Inception FID): its penultimate layer gives
// the features and its softmax the IS probabilities, as Inception-v3's pool3 and logits do for ImageNet.
// Three conv blocks (conv 3×3 → GroupNorm → SiLU → 2×2 max-pool: 32 → 16 → 8 → 4), a 128-d
// fully connected feature layer, and a linear head over the 10 classes. GroupNorm rather than
// BatchNorm: no running statistics, so features do not depend on batch composition or mode.

import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic_file.ts';
import { readJsonFile } from '../io/json_file.ts';
import { Conv2d, GroupNorm, type InitOpts, Linear } from '../nn/layers.ts';
import { Module, ModuleList } from '../nn/module.ts';
import { resolveModelDir } from '../pipeline/model_dir.ts';
import type { Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';
import type { FeatureNetwork } from './feature_network.ts';

export interface ClassifierConfig {
  inChannels: number;
  imageSize: number;
  /** Output channels of each conv block; each block halves the resolution. */
  channels: number[];
  groups: number;
  featureDim: number;
  numClasses: number;
  /** Dropout on the features during training. */
  dropout: number;
}

export const CLASSIFIER_PRESETS = {
  fmnist_cnn: { inChannels: 1, imageSize: 32, channels: [32, 64, 128], groups: 8, featureDim: 128, numClasses: 10, dropout: 0.3 }, // 357K
  colour_cnn: { inChannels: 3, imageSize: 32, channels: [32, 64, 128], groups: 8, featureDim: 128, numClasses: 10, dropout: 0.3 }, // numClasses from the data
  tiny: { inChannels: 1, imageSize: 32, channels: [4, 8], groups: 2, featureDim: 16, numClasses: 10, dropout: 0 }, // 8.7K (tests)
} satisfies Record<string, ClassifierConfig>;

export type ClassifierPreset = keyof typeof CLASSIFIER_PRESETS;

class ConvBlock extends Module {
  readonly conv: Conv2d;
  readonly norm: GroupNorm;

  constructor(cin: number, cout: number, groups: number, o: InitOpts) {
    super();
    this.conv = this.registerModule('conv', new Conv2d(cin, cout, 3, { padding: 1, ...o }));
    this.norm = this.registerModule('norm', new GroupNorm(groups, cout, 1e-5, o));
  }

  forward(x: Tensor): Tensor {
    const h = torch.F.silu(this.norm.forward(this.conv.forward(x)));
    return torch.F.maxPool2d(h, 2); // [B, C, H/2, W/2]
  }
}

export class FmnistClassifier extends Module {
  readonly blocks: ModuleList<ConvBlock>;
  readonly fc: Linear;
  readonly head: Linear;

  constructor(
    readonly config: ClassifierConfig,
    o: InitOpts = {},
  ) {
    super();
    const { channels, imageSize } = config;
    const final = imageSize >> channels.length;
    if (final < 1 || final << channels.length !== imageSize)
      throw new Error(
        `FmnistClassifier: imageSize ${imageSize} is not divisible by 2^${channels.length} (one halving per block)`,
      );
    this.blocks = this.registerModule(
      'blocks',
      new ModuleList(channels.map((c, i) => new ConvBlock(i === 0 ? config.inChannels : channels[i - 1], c, config.groups, o))),
    );
    this.fc = this.registerModule('fc', new Linear(channels[channels.length - 1] * final * final, config.featureDim, true, o));
    this.head = this.registerModule('head', new Linear(config.featureDim, config.numClasses, true, o));
  }

  /** Penultimate features [B, featureDim] of images [B, C, H, W] in [-1, 1]. */
  features(x: Tensor): Tensor {
    this.checkInput(x);
    let h = x;
    for (const b of this.blocks) h = b.forward(h);
    return torch.F.silu(this.fc.forward(h.flatten(1))); // [B, C·h·w] → [B, featureDim]
  }

  /**
   * Each conv block's output (after pooling) and the penultimate features, for a perceptual loss:
   * what the classifier sees at 16², 8², 4² and as a vector. [B, C, h, w]… then [B, featureDim]
   */
  featureMaps(x: Tensor): Tensor[] {
    this.checkInput(x);
    const out: Tensor[] = [];
    let h = x;
    for (const b of this.blocks) {
      h = b.forward(h);
      out.push(h);
    }
    out.push(torch.F.silu(this.fc.forward(h.flatten(1))));
    return out;
  }

  /** Logits [B, numClasses]; in training mode, dropout on the features drawn from `generator`. */
  forward(x: Tensor, generator?: torch.Generator): Tensor {
    const f = this.features(x);
    const p = this.config.dropout;
    if (!this.training || p === 0) return this.head.forward(f);
    const keepMask = torch.bernoulli(torch.fullLike(f, 1 - p), generator).div(1 - p);
    return this.head.forward(f.mul(keepMask));
  }

  private checkInput(x: Tensor): void {
    const { inChannels: c, imageSize: s } = this.config;
    const [, xc, xh, xw] = x.shape;
    if (x.ndim !== 4 || xc !== c || xh !== s || xw !== s)
      throw new Error(`FmnistClassifier: expected images [B, ${c}, ${s}, ${s}], got [${x.shape.join(', ')}]`);
  }
}

/** The classifier as a FeatureNetwork named after its dataset (`fmnist` gives `fid_fmnist`, `is_fmnist`, ...). */
export function classifierFeatureNetwork(model: FmnistClassifier, name = 'fmnist'): FeatureNetwork {
  model.eval();
  return {
    name,
    featureDim: model.config.featureDim,
    features: (x) => model.features(x),
    probs: (x) => torch.tidy(() => model.forward(x).softmax(-1)),
  };
}

// ---- checkpoint folder: config.json + model.safetensors -----------------------------------

/** The shipped classifier, by name (src/pipeline/model_dir.ts); a path names a folder of one's own. */
export const DEFAULT_CLASSIFIER_DIR = 'fmnist-classifier';

export interface ClassifierCheckpointInfo {
  kind: 'fmnist-classifier';
  preset: string;
  config: ClassifierConfig;
  /** Dataset name, the metrics' suffix (absent in older checkpoints: Fashion-MNIST's `fmnist`). */
  name?: string;
  /** Class names, label order (absent in older checkpoints). */
  classes?: string[];
  /** Training recipe and results, free-form (command, epochs, accuracy, ...). */
  training?: Record<string, unknown>;
}

/** Writes `config.json` and `model.safetensors` (fp16 storage when `fp16`), each atomically. */
export function saveClassifier(
  dir: string,
  model: FmnistClassifier,
  info: Omit<ClassifierCheckpointInfo, 'kind' | 'config'>,
  fp16 = false,
): void {
  mkdirSync(dir, { recursive: true });
  torch.tidy(() => {
    const sd = new Map([...model.stateDict()].map(([k, t]) => [k, fp16 ? t.detach().to('float16') : t.detach()]));
    torch.saveSafetensors(join(dir, 'model.safetensors'), sd, { format: 'pt' });
  });
  const full: ClassifierCheckpointInfo = {
    kind: 'fmnist-classifier',
    preset: info.preset,
    config: model.config,
    name: info.name,
    classes: info.classes,
    training: info.training,
  };
  writeFileAtomic(join(dir, 'config.json'), `${JSON.stringify(full, null, 2)}\n`);
}

/** The metric suffix of a loaded classifier: its dataset name (older checkpoints are Fashion-MNIST's). */
export function classifierName(info: ClassifierCheckpointInfo): string {
  return info.name ?? 'fmnist';
}

/** Loads a classifier folder (float32 in memory whatever the storage dtype), in eval mode. */
export function loadClassifier(nameOrDir = DEFAULT_CLASSIFIER_DIR): { model: FmnistClassifier; info: ClassifierCheckpointInfo } {
  const dir = resolveModelDir(nameOrDir);
  const cfgPath = join(dir, 'config.json');
  const wPath = join(dir, 'model.safetensors');
  for (const p of [cfgPath, wPath])
    if (!existsSync(p)) throw new Error(`loadClassifier: ${p} not found (train one with \`d2c train classifier --out ${dir}\`)`);
  const info = readJsonFile(cfgPath) as ClassifierCheckpointInfo;
  if (info.kind !== 'fmnist-classifier')
    throw new Error(`loadClassifier: ${cfgPath} has kind "${info.kind}", expected "fmnist-classifier"`);
  const model = new FmnistClassifier(info.config);
  const sd = torch.loadSafetensors(wPath);
  try {
    torch.tidy(() => model.loadStateDict(new Map([...sd].map(([k, t]) => [k, t.to('float32')]))));
  } finally {
    torch.dispose(sd);
  }
  model.eval();
  return { model, info };
}
