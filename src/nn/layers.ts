// Basic layers with torch.nn's parameter names and default initialisation.

import type { DType, Generator, Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';
import { defaultUniform_, normal_, ones_, zeros_ } from './init.ts';
import { Module } from './module.ts';

export interface InitOpts {
  generator?: Generator;
  dtype?: DType;
  device?: string;
}

export class Linear extends Module {
  readonly weight: Tensor; // [out, in]
  readonly bias: Tensor | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    bias = true,
    o: InitOpts = {},
  ) {
    super();
    const opts = { dtype: o.dtype, device: o.device };
    this.weight = this.registerParameter('weight', torch.empty([outFeatures, inFeatures], opts));
    defaultUniform_(this.weight, inFeatures, o.generator);
    this.bias = this.registerParameter('bias', bias ? torch.empty([outFeatures], opts) : null);
    if (this.bias) defaultUniform_(this.bias, inFeatures, o.generator);
  }

  forward(x: Tensor): Tensor {
    return torch.F.linear(x, this.weight, this.bias);
  }
}

export class Conv2d extends Module {
  readonly weight: Tensor; // [out, in/groups, k, k]
  readonly bias: Tensor | null;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    readonly opts: { stride?: number; padding?: number; groups?: number; bias?: boolean } & InitOpts = {},
  ) {
    super();
    const groups = opts.groups ?? 1;
    if (inChannels % groups !== 0 || outChannels % groups !== 0) {
      throw new Error(`Conv2d: channels ${inChannels}->${outChannels} not divisible by groups ${groups}`);
    }
    const t = { dtype: opts.dtype, device: opts.device };
    const fanIn = (inChannels / groups) * kernelSize * kernelSize;
    this.weight = this.registerParameter('weight', torch.empty([outChannels, inChannels / groups, kernelSize, kernelSize], t));
    defaultUniform_(this.weight, fanIn, opts.generator);
    this.bias = this.registerParameter('bias', opts.bias === false ? null : torch.empty([outChannels], t));
    if (this.bias) defaultUniform_(this.bias, fanIn, opts.generator);
  }

  forward(x: Tensor): Tensor {
    return torch.F.conv2d(x, this.weight, this.bias, {
      stride: this.opts.stride ?? 1,
      padding: this.opts.padding ?? 0,
      groups: this.opts.groups ?? 1,
    });
  }
}

export class Embedding extends Module {
  readonly weight: Tensor; // [num, dim]

  constructor(
    readonly num: number,
    readonly dim: number,
    o: InitOpts = {},
  ) {
    super();
    this.weight = this.registerParameter('weight', torch.empty([num, dim], { dtype: o.dtype, device: o.device }));
    normal_(this.weight, 0, 1, o.generator);
  }

  forward(idx: Tensor): Tensor {
    return torch.F.embedding(this.weight, idx);
  }
}

export class LayerNorm extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;

  constructor(
    readonly dim: number,
    readonly eps = 1e-5,
    affine = true,
    o: InitOpts = {},
  ) {
    super();
    const t = { dtype: o.dtype, device: o.device };
    this.weight = this.registerParameter('weight', affine ? torch.ones([dim], t) : null);
    this.bias = this.registerParameter('bias', affine ? torch.zeros([dim], t) : null);
  }

  forward(x: Tensor): Tensor {
    return torch.F.layerNorm(x, [this.dim], this.weight, this.bias, this.eps);
  }
}

export class GroupNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;

  constructor(
    readonly groups: number,
    readonly channels: number,
    readonly eps = 1e-6,
    o: InitOpts = {},
  ) {
    super();
    if (channels % groups !== 0) throw new Error(`GroupNorm: ${channels} channels not divisible by ${groups} groups`);
    const t = { dtype: o.dtype, device: o.device };
    this.weight = this.registerParameter('weight', torch.ones([channels], t));
    this.bias = this.registerParameter('bias', torch.zeros([channels], t));
  }

  forward(x: Tensor): Tensor {
    return torch.F.groupNorm(x, this.groups, this.weight, this.bias, this.eps);
  }
}

export class RMSNorm extends Module {
  readonly weight: Tensor;

  constructor(
    readonly dim: number,
    readonly eps = 1e-5,
    o: InitOpts = {},
  ) {
    super();
    this.weight = this.registerParameter('weight', torch.ones([dim], { dtype: o.dtype, device: o.device }));
  }

  forward(x: Tensor): Tensor {
    return torch.F.rmsNorm(x, [this.dim], this.weight, this.eps);
  }
}

export { ones_, zeros_ };
