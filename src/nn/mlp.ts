// Feed-forward layers of the transformer blocks.
//   Mlp     — timm's `Mlp` (fc1 -> GELU -> drop -> fc2 -> drop), MAR's block MLP
//             (timm/layers/mlp.py; LTH14/mar models/mar.py uses timm `Block`).
//   SwiGLU  — LlamaGen's `FeedForward`: w2(silu(w1 x) * w3 x), no biases, hidden width rounded up
//             to a multiple (FoundationVision/LlamaGen autoregressive/models/gpt.py).

import type { Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';
import type { InitOpts } from './layers.ts';
import { dropoutIfAny, Linear } from './layers.ts';
import { Module } from './module.ts';

export type GeluApprox = 'none' | 'tanh';

export interface MlpOpts extends InitOpts {
  outFeatures?: number;
  bias?: boolean;
  drop?: number;
  /** 'none' = exact erf GELU (nn.GELU()), 'tanh' = nn.GELU(approximate='tanh'). */
  gelu?: GeluApprox;
}

export class Mlp extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  readonly drop: number;
  readonly gelu: GeluApprox;

  constructor(
    readonly inFeatures: number,
    readonly hiddenFeatures: number,
    o: MlpOpts = {},
  ) {
    super();
    const bias = o.bias ?? true;
    this.fc1 = this.registerModule('fc1', new Linear(inFeatures, hiddenFeatures, bias, o));
    this.fc2 = this.registerModule('fc2', new Linear(hiddenFeatures, o.outFeatures ?? inFeatures, bias, o));
    this.drop = o.drop ?? 0;
    this.gelu = o.gelu ?? 'none';
  }

  forward(x: Tensor): Tensor {
    const h = dropoutIfAny(torch.F.gelu(this.fc1.forward(x), this.gelu), this.drop, this.training);
    return dropoutIfAny(this.fc2.forward(h), this.drop, this.training);
  }
}

/** LlamaGen's hidden width: 2/3 of 4·dim (times an optional multiplier), rounded up to `multipleOf`. */
export function swigluHidden(dim: number, multipleOf = 256, ffnDimMultiplier: number | null = null): number {
  let hidden = Math.trunc((2 * 4 * dim) / 3);
  if (ffnDimMultiplier !== null) hidden = Math.trunc(ffnDimMultiplier * hidden);
  return multipleOf * Math.ceil(hidden / multipleOf);
}

export interface SwiGLUOpts extends InitOpts {
  bias?: boolean;
  drop?: number;
}

export class SwiGLU extends Module {
  readonly w1: Linear; // gate
  readonly w3: Linear; // value
  readonly w2: Linear; // out
  readonly drop: number;

  constructor(
    readonly dim: number,
    readonly hidden: number,
    o: SwiGLUOpts = {},
  ) {
    super();
    const bias = o.bias ?? false;
    this.w1 = this.registerModule('w1', new Linear(dim, hidden, bias, o));
    this.w3 = this.registerModule('w3', new Linear(dim, hidden, bias, o));
    this.w2 = this.registerModule('w2', new Linear(hidden, dim, bias, o));
    this.drop = o.drop ?? 0;
  }

  forward(x: Tensor): Tensor {
    const h = torch.F.silu(this.w1.forward(x)).mul(this.w3.forward(x));
    return dropoutIfAny(this.w2.forward(h), this.drop, this.training);
  }
}
