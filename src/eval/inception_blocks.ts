// The building blocks of the FID Inception v3 (inception.ts), with torchvision's names
// (`branch5x5_1.conv.weight`, `branch_pool.bn.running_var`, ...) so pytorch-fid's weights load by name.
// Mixed_5b–5d (A), 6b–6e (C) and 7b (E) are pytorch-fid's FID variants: their 3×3 average pools do
// not count the zero padding (TensorFlow's behaviour); 7c (E with `pool: 'max'`) max-pools instead.
// Inference only: BatchNorm always uses its running statistics, and each conv + BatchNorm pair runs
// as one conv whose weight and bias have the BatchNorm folded in (computed on first use).

import { Module } from '../nn/module.ts';
import type { Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';

type Pair = number | [number, number];
const pair = (v: Pair): [number, number] => (typeof v === 'number' ? [v, v] : v);

/** `nn.Conv2d(bias=False)`: only `weight` [out, in, kh, kw]. */
class ConvWeight extends Module {
  readonly weight: Tensor;
  constructor(cin: number, cout: number, k: [number, number]) {
    super();
    this.weight = this.registerParameter('weight', torch.zeros([cout, cin, k[0], k[1]]));
    this.weight.requiresGrad = false;
  }
}

/** `nn.BatchNorm2d(eps=0.001)`'s state: affine weight/bias, running mean/var, num_batches_tracked. */
class BatchNormState extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  constructor(c: number) {
    super();
    this.weight = this.registerParameter('weight', torch.ones([c]));
    this.bias = this.registerParameter('bias', torch.zeros([c]));
    this.weight.requiresGrad = false;
    this.bias.requiresGrad = false;
    this.runningMean = this.registerBuffer('running_mean', torch.zeros([c]));
    this.runningVar = this.registerBuffer('running_var', torch.ones([c]));
    this.registerBuffer('num_batches_tracked', torch.zeros([], { dtype: 'int64' }));
  }
}

export const BN_EPS = 0.001; // torchvision's BasicConv2d

/** torchvision's BasicConv2d: conv (no bias) → BatchNorm (eps 0.001) → ReLU. */
export class BasicConv2d extends Module {
  readonly conv: ConvWeight;
  readonly bn: BatchNormState;
  private readonly stride: [number, number];
  private readonly padding: [number, number];
  private folded: { weight: Tensor; bias: Tensor } | null = null;

  constructor(cin: number, cout: number, o: { kernel: Pair; stride?: Pair; padding?: Pair }) {
    super();
    this.conv = this.registerModule('conv', new ConvWeight(cin, cout, pair(o.kernel)));
    this.bn = this.registerModule('bn', new BatchNormState(cout));
    this.stride = pair(o.stride ?? 1);
    this.padding = pair(o.padding ?? 0);
  }

  /** Drops the folded weights (after the state dict changed); the next forward refolds. */
  unfold(): void {
    if (this.folded) torch.dispose(this.folded);
    this.folded = null;
  }

  forward(x: Tensor): Tensor {
    if (!this.folded) {
      // y = (conv(x, W) − mean)·γ/√(var+eps) + β = conv(x, W·s) + (β − mean·s), s = γ/√(var+eps)
      this.folded = torch.keep(
        torch.noGrad(() =>
          torch.tidy(() => {
            const s = this.bn.weight.div(this.bn.runningVar.add(BN_EPS).sqrt());
            return {
              weight: this.conv.weight.mul(s.view(-1, 1, 1, 1)).contiguous(),
              bias: this.bn.bias.sub(this.bn.runningMean.mul(s)),
            };
          }),
        ),
      );
    }
    const f = this.folded;
    const y = torch.F.conv2d(x, f.weight, f.bias, { stride: this.stride, padding: this.padding });
    return torch.callOp('aten::relu_', y);
  }
}

/** 3×3 stride-1 average pool that ignores the padding (TensorFlow's, pytorch-fid's patch). */
function avgPool3NoPad(x: Tensor): Tensor {
  return torch.callOp('aten::avg_pool2d', x, [3, 3], [1, 1], [1, 1], false, false, null);
}

/** Concatenates branch outputs on channels and frees them at once (they are temporaries of the block). */
function catBranches(parts: Tensor[]): Tensor {
  const out = torch.cat(parts, 1);
  for (const p of parts) torch.release(p);
  return out;
}

/** Mixed_5b/5c/5d (FIDInceptionA): 1×1 | 1×1→5×5 | 1×1→3×3→3×3 | avgpool→1×1. */
export class InceptionA extends Module {
  readonly branch1x1: BasicConv2d;
  readonly branch5x5_1: BasicConv2d;
  readonly branch5x5_2: BasicConv2d;
  readonly branch3x3dbl_1: BasicConv2d;
  readonly branch3x3dbl_2: BasicConv2d;
  readonly branch3x3dbl_3: BasicConv2d;
  readonly branch_pool: BasicConv2d;

  constructor(cin: number, poolFeatures: number) {
    super();
    const c = (name: string, i: number, o: number, k: number, p = 0) =>
      this.registerModule(name, new BasicConv2d(i, o, { kernel: k, padding: p }));
    this.branch1x1 = c('branch1x1', cin, 64, 1);
    this.branch5x5_1 = c('branch5x5_1', cin, 48, 1);
    this.branch5x5_2 = c('branch5x5_2', 48, 64, 5, 2);
    this.branch3x3dbl_1 = c('branch3x3dbl_1', cin, 64, 1);
    this.branch3x3dbl_2 = c('branch3x3dbl_2', 64, 96, 3, 1);
    this.branch3x3dbl_3 = c('branch3x3dbl_3', 96, 96, 3, 1);
    this.branch_pool = c('branch_pool', cin, poolFeatures, 1);
  }

  forward(x: Tensor): Tensor {
    return torch.tidy(() => {
      const b1 = this.branch1x1.forward(x);
      const b5 = seq(x, this.branch5x5_1, this.branch5x5_2);
      const b3 = seq(x, this.branch3x3dbl_1, this.branch3x3dbl_2, this.branch3x3dbl_3);
      const bp = this.branch_pool.forward(avgPool3NoPad(x));
      return catBranches([b1, b5, b3, bp]);
    });
  }
}

/** Mixed_6a (InceptionB, unpatched): 3×3/2 | 1×1→3×3→3×3/2 | maxpool 3×3/2. */
export class InceptionB extends Module {
  readonly branch3x3: BasicConv2d;
  readonly branch3x3dbl_1: BasicConv2d;
  readonly branch3x3dbl_2: BasicConv2d;
  readonly branch3x3dbl_3: BasicConv2d;

  constructor(cin: number) {
    super();
    this.branch3x3 = this.registerModule('branch3x3', new BasicConv2d(cin, 384, { kernel: 3, stride: 2 }));
    this.branch3x3dbl_1 = this.registerModule('branch3x3dbl_1', new BasicConv2d(cin, 64, { kernel: 1 }));
    this.branch3x3dbl_2 = this.registerModule('branch3x3dbl_2', new BasicConv2d(64, 96, { kernel: 3, padding: 1 }));
    this.branch3x3dbl_3 = this.registerModule('branch3x3dbl_3', new BasicConv2d(96, 96, { kernel: 3, stride: 2 }));
  }

  forward(x: Tensor): Tensor {
    return torch.tidy(() => {
      const b3 = this.branch3x3.forward(x);
      const bd = seq(x, this.branch3x3dbl_1, this.branch3x3dbl_2, this.branch3x3dbl_3);
      return catBranches([b3, bd, torch.F.maxPool2d(x, 3, 2)]);
    });
  }
}

/** Mixed_6b–6e (FIDInceptionC): 1×1 | 1×1→1×7→7×1 | 1×1→7×1→1×7→7×1→1×7 | avgpool→1×1. */
export class InceptionC extends Module {
  readonly branch1x1: BasicConv2d;
  readonly branch7x7_1: BasicConv2d;
  readonly branch7x7_2: BasicConv2d;
  readonly branch7x7_3: BasicConv2d;
  readonly branch7x7dbl_1: BasicConv2d;
  readonly branch7x7dbl_2: BasicConv2d;
  readonly branch7x7dbl_3: BasicConv2d;
  readonly branch7x7dbl_4: BasicConv2d;
  readonly branch7x7dbl_5: BasicConv2d;
  readonly branch_pool: BasicConv2d;

  constructor(cin: number, c7: number) {
    super();
    const c = (name: string, i: number, o: number, kernel: Pair, padding: Pair = 0) =>
      this.registerModule(name, new BasicConv2d(i, o, { kernel, padding }));
    this.branch1x1 = c('branch1x1', cin, 192, 1);
    this.branch7x7_1 = c('branch7x7_1', cin, c7, 1);
    this.branch7x7_2 = c('branch7x7_2', c7, c7, [1, 7], [0, 3]);
    this.branch7x7_3 = c('branch7x7_3', c7, 192, [7, 1], [3, 0]);
    this.branch7x7dbl_1 = c('branch7x7dbl_1', cin, c7, 1);
    this.branch7x7dbl_2 = c('branch7x7dbl_2', c7, c7, [7, 1], [3, 0]);
    this.branch7x7dbl_3 = c('branch7x7dbl_3', c7, c7, [1, 7], [0, 3]);
    this.branch7x7dbl_4 = c('branch7x7dbl_4', c7, c7, [7, 1], [3, 0]);
    this.branch7x7dbl_5 = c('branch7x7dbl_5', c7, 192, [1, 7], [0, 3]);
    this.branch_pool = c('branch_pool', cin, 192, 1);
  }

  forward(x: Tensor): Tensor {
    return torch.tidy(() => {
      const b1 = this.branch1x1.forward(x);
      const b7 = seq(x, this.branch7x7_1, this.branch7x7_2, this.branch7x7_3);
      const bd = seq(x, this.branch7x7dbl_1, this.branch7x7dbl_2, this.branch7x7dbl_3, this.branch7x7dbl_4, this.branch7x7dbl_5);
      const bp = this.branch_pool.forward(avgPool3NoPad(x));
      return catBranches([b1, b7, bd, bp]);
    });
  }
}

/** Mixed_7a (InceptionD, unpatched): 1×1→3×3/2 | 1×1→1×7→7×1→3×3/2 | maxpool 3×3/2. */
export class InceptionD extends Module {
  readonly branch3x3_1: BasicConv2d;
  readonly branch3x3_2: BasicConv2d;
  readonly branch7x7x3_1: BasicConv2d;
  readonly branch7x7x3_2: BasicConv2d;
  readonly branch7x7x3_3: BasicConv2d;
  readonly branch7x7x3_4: BasicConv2d;

  constructor(cin: number) {
    super();
    const c = (name: string, i: number, o: number, kernel: Pair, padding: Pair = 0, stride = 1) =>
      this.registerModule(name, new BasicConv2d(i, o, { kernel, padding, stride }));
    this.branch3x3_1 = c('branch3x3_1', cin, 192, 1);
    this.branch3x3_2 = c('branch3x3_2', 192, 320, 3, 0, 2);
    this.branch7x7x3_1 = c('branch7x7x3_1', cin, 192, 1);
    this.branch7x7x3_2 = c('branch7x7x3_2', 192, 192, [1, 7], [0, 3]);
    this.branch7x7x3_3 = c('branch7x7x3_3', 192, 192, [7, 1], [3, 0]);
    this.branch7x7x3_4 = c('branch7x7x3_4', 192, 192, 3, 0, 2);
  }

  forward(x: Tensor): Tensor {
    return torch.tidy(() => {
      const b3 = seq(x, this.branch3x3_1, this.branch3x3_2);
      const b7 = seq(x, this.branch7x7x3_1, this.branch7x7x3_2, this.branch7x7x3_3, this.branch7x7x3_4);
      return catBranches([b3, b7, torch.F.maxPool2d(x, 3, 2)]);
    });
  }
}

/**
 * Mixed_7b (FIDInceptionE_1, `pool: 'avg'`) and Mixed_7c (FIDInceptionE_2, `pool: 'max'`):
 * 1×1 | 1×1→(1×3 ‖ 3×1) | 1×1→3×3→(1×3 ‖ 3×1) | pool→1×1.
 */
export class InceptionE extends Module {
  readonly branch1x1: BasicConv2d;
  readonly branch3x3_1: BasicConv2d;
  readonly branch3x3_2a: BasicConv2d;
  readonly branch3x3_2b: BasicConv2d;
  readonly branch3x3dbl_1: BasicConv2d;
  readonly branch3x3dbl_2: BasicConv2d;
  readonly branch3x3dbl_3a: BasicConv2d;
  readonly branch3x3dbl_3b: BasicConv2d;
  readonly branch_pool: BasicConv2d;

  constructor(
    cin: number,
    private readonly pool: 'avg' | 'max',
  ) {
    super();
    const c = (name: string, i: number, o: number, kernel: Pair, padding: Pair = 0) =>
      this.registerModule(name, new BasicConv2d(i, o, { kernel, padding }));
    this.branch1x1 = c('branch1x1', cin, 320, 1);
    this.branch3x3_1 = c('branch3x3_1', cin, 384, 1);
    this.branch3x3_2a = c('branch3x3_2a', 384, 384, [1, 3], [0, 1]);
    this.branch3x3_2b = c('branch3x3_2b', 384, 384, [3, 1], [1, 0]);
    this.branch3x3dbl_1 = c('branch3x3dbl_1', cin, 448, 1);
    this.branch3x3dbl_2 = c('branch3x3dbl_2', 448, 384, 3, 1);
    this.branch3x3dbl_3a = c('branch3x3dbl_3a', 384, 384, [1, 3], [0, 1]);
    this.branch3x3dbl_3b = c('branch3x3dbl_3b', 384, 384, [3, 1], [1, 0]);
    this.branch_pool = c('branch_pool', cin, 192, 1);
  }

  forward(x: Tensor): Tensor {
    return torch.tidy(() => {
      const b1 = this.branch1x1.forward(x);
      const s3 = this.branch3x3_1.forward(x);
      const b3a = this.branch3x3_2a.forward(s3);
      const b3b = this.branch3x3_2b.forward(s3);
      torch.release(s3);
      const sd = seq(x, this.branch3x3dbl_1, this.branch3x3dbl_2);
      const bda = this.branch3x3dbl_3a.forward(sd);
      const bdb = this.branch3x3dbl_3b.forward(sd);
      torch.release(sd);
      const pooled = this.pool === 'max' ? torch.F.maxPool2d(x, 3, 1, 1) : avgPool3NoPad(x);
      const bp = this.branch_pool.forward(pooled);
      // cat([b1, cat([b3a, b3b]), cat([bda, bdb]), bp]) is the same as one flat cat.
      return catBranches([b1, b3a, b3b, bda, bdb, bp]);
    });
  }
}

/** Runs convs in sequence, freeing each intermediate as soon as the next has consumed it. */
export function seq(x: Tensor, ...layers: BasicConv2d[]): Tensor {
  let h = x;
  for (const l of layers) {
    const next = l.forward(h);
    if (h !== x) torch.release(h);
    h = next;
  }
  return h;
}
