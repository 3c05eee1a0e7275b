// The PatchGAN discriminator of pix2pix/taming as LlamaGen uses it
// (tokenizer/tokenizer_image/discriminator_patchgan.py, NLayerDiscriminator): stride-2 4×4 convs with
// BatchNorm and LeakyReLU(0.2), ending in a 1-channel map of per-patch real/fake logits. Names follow
// the reference's nn.Sequential (`main.0.weight`, `main.3.running_mean`, …).

import { Conv2d, type InitOpts } from '../nn/layers.ts';
import { Module } from '../nn/module.ts';
import type { Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';

/** torch.nn.BatchNorm2d (momentum 0.1, eps 1e-5, running statistics), which src/nn does not provide. */
export class BatchNorm2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  readonly numBatchesTracked: Tensor;

  constructor(
    readonly channels: number,
    readonly momentum = 0.1,
    readonly eps = 1e-5,
    o: InitOpts = {},
  ) {
    super();
    const t = { dtype: o.dtype, device: o.device };
    this.weight = this.registerParameter('weight', torch.ones([channels], t));
    this.bias = this.registerParameter('bias', torch.zeros([channels], t));
    this.runningMean = this.registerBuffer('running_mean', torch.zeros([channels], t));
    this.runningVar = this.registerBuffer('running_var', torch.ones([channels], t));
    this.numBatchesTracked = this.registerBuffer('num_batches_tracked', torch.zeros([], { dtype: 'int64', device: o.device }));
  }

  forward(x: Tensor): Tensor {
    // The kernel updates running_mean/var in place when training, as nn.BatchNorm2d does.
    if (this.training) torch.noGrad(() => this.numBatchesTracked.add_(1));
    return torch.callOp<Tensor>(
      'aten::batch_norm',
      x,
      this.weight,
      this.bias,
      this.runningMean,
      this.runningVar,
      this.training,
      this.momentum,
      this.eps,
      true,
    );
  }
}

export interface DiscriminatorConfig {
  inChannels: number;
  ndf: number; // width of the first conv (64 in LlamaGen)
  nLayers: number; // stride-2 convs after the first (3 in LlamaGen)
}

export const DISC_DEFAULTS: DiscriminatorConfig = { inChannels: 3, ndf: 64, nLayers: 3 };

/** conv → [BatchNorm] → LeakyReLU(0.2) stages; indices in `main` follow the reference's Sequential. */
export class NLayerDiscriminator extends Module {
  private readonly stages: { conv: Conv2d; norm: BatchNorm2d | null; act: boolean }[] = [];

  constructor(
    readonly config: DiscriminatorConfig = DISC_DEFAULTS,
    o: InitOpts = {},
  ) {
    super();
    const { inChannels, ndf, nLayers } = config;
    if (nLayers < 1) throw new Error(`NLayerDiscriminator: nLayers must be ≥ 1, got ${nLayers}`);
    const main = this.registerModule('main', new Module());
    let idx = 0;
    const stage = (cin: number, cout: number, stride: number, bn: boolean, act: boolean) => {
      // BatchNorm carries the affine shift, so the convs before it have no bias (use_bias = False).
      const conv = main.registerModule(String(idx++), new Conv2d(cin, cout, 4, { stride, padding: 1, bias: !bn, ...o }));
      const norm = bn ? main.registerModule(String(idx++), new BatchNorm2d(cout, 0.1, 1e-5, o)) : null;
      if (act) idx++; // LeakyReLU has no parameters but takes an index
      this.stages.push({ conv, norm, act });
    };
    stage(inChannels, ndf, 2, false, true);
    let mult = 1;
    for (let n = 1; n < nLayers; n++) {
      const prev = mult;
      mult = Math.min(2 ** n, 8);
      stage(ndf * prev, ndf * mult, 2, true, true);
    }
    const prev = mult;
    mult = Math.min(2 ** nLayers, 8);
    stage(ndf * prev, ndf * mult, 1, true, true);
    stage(ndf * mult, 1, 1, false, false);
    this.initWeights(o);
  }

  /** The reference's _init_weights: conv weights N(0, 0.02), BatchNorm weights N(1, 0.02) and biases 0. */
  private initWeights(o: InitOpts): void {
    torch.noGrad(() => {
      for (const s of this.stages) {
        torch.normal_(s.conv.weight, 0, 0.02, o.generator);
        if (s.norm) {
          torch.normal_(s.norm.weight, 1, 0.02, o.generator);
          s.norm.bias.zero_();
        }
      }
    });
  }

  /** Image [B, C, H, W] → patch logits [B, 1, h, w]. */
  forward(x: Tensor): Tensor {
    let h = x;
    for (const s of this.stages) {
      h = s.conv.forward(h);
      if (s.norm) h = s.norm.forward(h);
      if (s.act) h = torch.F.leakyRelu(h, 0.2);
    }
    return h;
  }
}
