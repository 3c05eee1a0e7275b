// Functional ops (torch.* / torch.nn.functional.*) that models and losses use.
import { addFlops, autocastDtype, castCall, countingFlops } from './autocast.ts';
import { empty, shardedDraw } from './creation.ts';
import { tidy } from './memory.ts';
import { native } from './native.ts';
import { op } from './ops.ts';
import type { Generator } from './random.ts';
import { callOp, Tensor, type TensorOrScalar } from './tensor.ts';

const N = native;
const ID = {
  linear: op('aten::linear'),
  layerNorm: op('aten::layer_norm'),
  sdpa: op('aten::scaled_dot_product_attention'),
  cat: op('aten::cat'),
  gelu: op('aten::gelu'),
  silu: op('aten::silu'),
  addcmul: op('aten::addcmul'),
  lerp: op('aten::lerp.Scalar'),
};
const w = (h: unknown) => new Tensor(h as number);

export type Reduction = 'none' | 'mean' | 'sum';
const REDUCTION: Record<Reduction, number> = { none: 0, mean: 1, sum: 2 };

export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  if (countingFlops()) addFlops(2 * x.numel * weight.shape[0]);
  if (autocastDtype() === null) return w(N.call(ID.linear, x.h, weight.h, bias ? bias.h : null)); // the hot path
  return castCall([x, weight, bias ?? null], ([a, b, c]) => w(N.call(ID.linear, a!.h, b!.h, c ? c.h : null)));
}

export function conv2d(
  x: Tensor,
  weight: Tensor,
  bias?: Tensor | null,
  opts: { stride?: number | number[]; padding?: number | number[]; dilation?: number | number[]; groups?: number } = {},
): Tensor {
  const y = castCall([x, weight, bias ?? null], ([a, b, c]) =>
    callOp<Tensor>('aten::conv2d', a, b, c, opts.stride ?? 1, opts.padding ?? 0, opts.dilation ?? 1, opts.groups ?? 1),
  );
  // per output element, one multiply-add per weight of its group: Cin/groups · kh · kw
  if (countingFlops()) addFlops(2 * y.numel * weight.shape[1] * weight.shape[2] * weight.shape[3]);
  return y;
}

export function layerNorm(x: Tensor, shape: number[], weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  return w(N.call(ID.layerNorm, x.h, shape, weight ? weight.h : null, bias ? bias.h : null, eps));
}

export function groupNorm(x: Tensor, groups: number, weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  return callOp('aten::group_norm', x, groups, weight ?? null, bias ?? null, eps);
}

/** RMSNorm over the last dims, as LlamaGen computes it: x * rsqrt(mean(x^2) + eps) * weight (in float32). */
export function rmsNorm(x: Tensor, shape: number[], weight?: Tensor | null, eps = 1e-5): Tensor {
  return callOp('aten::rms_norm', x, shape, weight ?? null, eps);
}

export function scaledDotProductAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  opts: { mask?: Tensor | null; dropoutP?: number; isCausal?: boolean; scale?: number | null } = {},
): Tensor {
  // QKᵀ and the weighted sum of V, for every (query, key) pair (as PyTorch's counter, causal or not)
  if (countingFlops())
    addFlops((2 * q.numel * k.shape[k.ndim - 2] * (q.shape[q.ndim - 1] + v.shape[v.ndim - 1])) / q.shape[q.ndim - 1]);
  const mask = opts.mask && opts.mask.dtype !== 'bool' ? opts.mask : null; // a float mask is cast with q
  return castCall([q, k, v, mask], ([a, b, c, m]) =>
    w(
      N.call(
        ID.sdpa,
        a!.h,
        b!.h,
        c!.h,
        opts.mask ? (m ?? opts.mask).h : null,
        opts.dropoutP ?? 0,
        opts.isCausal ?? false,
        opts.scale ?? null,
      ),
    ),
  );
}

export function gelu(x: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor {
  return w(N.call(ID.gelu, x.h, approximate));
}
/** input + value·t1·t2 in one pass (torch.addcmul). */
export function addcmul(input: Tensor, t1: Tensor, t2: Tensor, value = 1): Tensor {
  return w(N.call(ID.addcmul, input.h, t1.h, t2.h, value));
}

/** start + weight·(end − start) in one pass (torch.lerp with a scalar weight). */
export function lerp(start: Tensor, end: Tensor, weight: number): Tensor {
  return w(N.call(ID.lerp, start.h, end.h, weight));
}

export function silu(x: Tensor): Tensor {
  return w(N.call(ID.silu, x.h));
}
export function relu(x: Tensor): Tensor {
  return x.relu();
}
export function leakyRelu(x: Tensor, slope = 0.01): Tensor {
  return callOp('aten::leaky_relu', x, slope);
}
export function softmax(x: Tensor, dim: number): Tensor {
  return x.softmax(dim);
}
export function logSoftmax(x: Tensor, dim: number): Tensor {
  return x.logSoftmax(dim);
}
export function logsumexp(x: Tensor, dim: number | number[], keepdim = false): Tensor {
  return callOp('aten::logsumexp', x, typeof dim === 'number' ? [dim] : dim, keepdim);
}

/** Cross-entropy over class logits [B, C] (or [B, C, ...]) and int64 targets. */
export function crossEntropy(
  logits: Tensor,
  target: Tensor,
  opts: { reduction?: Reduction; ignoreIndex?: number; labelSmoothing?: number; weight?: Tensor } = {},
): Tensor {
  return callOp(
    'aten::cross_entropy_loss',
    logits,
    target,
    opts.weight ?? null,
    REDUCTION[opts.reduction ?? 'mean'],
    opts.ignoreIndex ?? -100,
    opts.labelSmoothing ?? 0,
  );
}
export function mseLoss(a: Tensor, b: Tensor, reduction: Reduction = 'mean'): Tensor {
  return callOp('aten::mse_loss', a, b, REDUCTION[reduction]);
}
export function l1Loss(a: Tensor, b: Tensor, reduction: Reduction = 'mean'): Tensor {
  return callOp('aten::l1_loss', a, b, REDUCTION[reduction]);
}

export function embedding(weight: Tensor, indices: Tensor): Tensor {
  return callOp('aten::embedding', weight, indices);
}

/**
 * Dropout as torch.nn.functional.dropout; with a generator, the keep-mask is drawn from it (so a
 * seeded run is reproducible), else from the global generator.
 */
export function dropout(x: Tensor, p: number, training: boolean, generator?: Generator): Tensor {
  if (!(p >= 0 && p <= 1)) throw new Error(`dropout: p must be in [0, 1], got ${p}`);
  if (!training || p === 0) return x.view(...x.shape);
  if (!generator) return callOp('aten::dropout', x, p, training);
  if (p === 1) return x.mul(0);
  const keep = 1 - p;
  return tidy(() => {
    // inputs are batch-first: a batch-sharded generator draws the global batch's mask (creation.ts)
    const mask = shardedDraw(x.shape, generator, 0, (shape) => {
      const m =
        shape === x.shape ? callOp<Tensor>('aten::empty_like', x.detach()) : empty(shape, { dtype: x.dtype, device: x.device });
      N.callVoid(op('aten::bernoulli_.float'), m.h, keep, generator.generatorHandle);
      return m;
    });
    return x.mul(mask.div(keep));
  });
}

export function cat(ts: Tensor[], dim = 0): Tensor {
  return w(
    N.call(
      ID.cat,
      ts.map((t) => t.h),
      dim,
    ),
  );
}
export function stack(ts: Tensor[], dim = 0): Tensor {
  return callOp('aten::stack', ts, dim);
}
export function where(cond: Tensor, a: TensorOrScalar, b: TensorOrScalar): Tensor {
  if (typeof a === 'number' && typeof b === 'number') return callOp('aten::where.Scalar', cond, a, b);
  if (typeof a === 'number') return callOp('aten::where.ScalarSelf', cond, a, b);
  if (typeof b === 'number') return callOp('aten::where.ScalarOther', cond, a, b);
  return callOp('aten::where.self', cond, a, b);
}
export function matmul(a: Tensor, b: Tensor): Tensor {
  return a.matmul(b);
}
export function bmm(a: Tensor, b: Tensor): Tensor {
  return callOp('aten::bmm', a, b);
}
export function outer(a: Tensor, b: Tensor): Tensor {
  return callOp('aten::outer', a, b);
}

/** Nearest-neighbour upsampling by an integer factor ([B, C, H, W]). */
export function upsampleNearest(x: Tensor, scale: number): Tensor {
  const [, , h, wd] = x.shape;
  return callOp('aten::upsample_nearest2d', x, [h * scale, wd * scale], scale, scale);
}
export function interpolateBilinear(x: Tensor, size: [number, number], alignCorners = false): Tensor {
  return callOp('aten::upsample_bilinear2d', x, size, alignCorners, null, null);
}
export function avgPool2d(x: Tensor, kernel: number, stride?: number, padding = 0): Tensor {
  return callOp('aten::avg_pool2d', x, kernel, stride ?? kernel, padding);
}
export function maxPool2d(x: Tensor, kernel: number, stride?: number, padding = 0): Tensor {
  return callOp('aten::max_pool2d', x, kernel, stride ?? kernel, padding);
}
/** Constant padding; `pad` lists (before, after) pairs starting from the last dim. */
export function pad(x: Tensor, p: number[], value = 0): Tensor {
  return callOp('aten::constant_pad_nd', x, p, value);
}
/** Pairwise p-norm distances between rows of a [.., P, M] and b [.., R, M]. */
export function cdist(a: Tensor, b: Tensor, p = 2): Tensor {
  return callOp('aten::cdist', a, b, p, null);
}
export function erf(x: Tensor): Tensor {
  return callOp('aten::erf', x);
}
