// Parameter initialisers (torch.nn.init), each taking an optional seeded generator.

import type { Generator, Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';

export function uniform_(t: Tensor, a: number, b: number, generator?: Generator): Tensor {
  return torch.noGrad(() => torch.uniform_(t, a, b, generator));
}

export function normal_(t: Tensor, mean = 0, std = 1, generator?: Generator): Tensor {
  return torch.noGrad(() => torch.normal_(t, mean, std, generator));
}

/**
 * Normal(mean, std) truncated to [a, b] (absolute bounds), drawing exactly what
 * torch.nn.init.trunc_normal_ draws in torch 2.13 (torch/nn/init.py `_no_grad_trunc_normal_`), so
 * the same generator seed gives the same weights: rejection sampling from the normal when the
 * interval holds more than 30% of the mass, else uniform proposals accepted by the density ratio.
 */
export function truncNormal_(t: Tensor, mean = 0, std = 1, a = -2, b = 2, generator?: Generator): Tensor {
  if (!(std > 0) || !(a < b)) throw new Error(`truncNormal_: need std > 0 and a < b, got std ${std}, [${a}, ${b}]`);
  const cdf = (x: number) => (1 + erf(x / Math.SQRT2)) / 2;
  const mass = cdf((b - mean) / std) - cdf((a - mean) / std);
  torch.noGrad(() =>
    torch.tidy(() =>
      mass > 0.3 ? truncByRejection(t, mean, std, a, b, generator) : truncByUniform(t, mean, std, a, b, generator),
    ),
  );
  return t;
}

const anyTrue = (m: Tensor) => torch.callOp<Tensor>('aten::any', m).item() !== 0;

function truncByRejection(t: Tensor, mean: number, std: number, a: number, b: number, g?: Generator): void {
  // Bounds rounded to the tensor's dtype, so the test agrees with the stored values.
  const [lo, hi] = t.dtype === 'float32' ? [Math.fround(a), Math.fround(b)] : [a, b];
  torch.normal_(t, mean, std, g);
  let result = t;
  for (;;) {
    const out = result.lt(lo).logicalOr(result.gt(hi));
    if (!anyTrue(out)) break;
    result = torch.where(out, torch.normal_(torch.emptyLike(result), mean, std, g), result);
  }
  if (result !== t) t.copy_(result);
}

function truncByUniform(t: Tensor, mean: number, std: number, a: number, b: number, g?: Generator): void {
  const mode = Math.max(a, Math.min(mean, b));
  const logPeak = -0.5 * ((mode - mean) / std) ** 2;
  const candidates = torch.emptyLike(t);
  const accept = torch.emptyLike(t);
  // log of the density ratio to the peak, computed with the same in-place ops as PyTorch.
  const logRatio = () => {
    torch.callOpVoid('aten::sub_.Scalar', candidates, mean, 1);
    candidates.div_(std);
    torch.callOpVoid('aten::pow_.Scalar', candidates, 2);
    candidates.mul_(-0.5);
    torch.callOpVoid('aten::sub_.Scalar', candidates, logPeak, 1);
  };
  const rejected = () => {
    torch.uniform_(accept, 0, 1, g);
    torch.callOpVoid('aten::log_', accept);
    return accept.gt(candidates);
  };
  torch.uniform_(t, a, b, g);
  candidates.copy_(t);
  logRatio();
  let pending = rejected();
  let result = t;
  while (anyTrue(pending)) {
    torch.uniform_(candidates, a, b, g);
    result = torch.where(pending, candidates, result);
    logRatio();
    pending = torch.where(pending, rejected(), pending);
  }
  if (result !== t) t.copy_(result);
}

export function zeros_(t: Tensor): Tensor {
  return torch.noGrad(() => t.zero_());
}

export function ones_(t: Tensor): Tensor {
  return torch.noGrad(() => t.fill_(1));
}

export function constant_(t: Tensor, v: number): Tensor {
  return torch.noGrad(() => t.fill_(v));
}

/** fan_in and fan_out as torch.nn.init computes them (dims 0/1 times the receptive field). */
export function fans(shape: number[]): [number, number] {
  if (shape.length < 2) throw new Error(`fan in/out need at least 2 dims, got [${shape}]`);
  const rf = shape.slice(2).reduce((a, b) => a * b, 1);
  return [shape[1] * rf, shape[0] * rf];
}

export function xavierUniform_(t: Tensor, gain = 1, generator?: Generator): Tensor {
  const [fi, fo] = fans(t.shape);
  const a = gain * Math.sqrt(6 / (fi + fo));
  return uniform_(t, -a, a, generator);
}

/** PyTorch's default Linear/Conv init: kaiming_uniform(a=√5) = U(±1/√fan_in). */
export function defaultUniform_(t: Tensor, fanIn: number, generator?: Generator): Tensor {
  const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
  return uniform_(t, -bound, bound, generator);
}

// Abramowitz–Stegun 7.1.26 is too coarse for bounds; use the series/continued form via Math.
function erf(x: number): number {
  // High-precision erf through the complementary error function's continued fraction.
  const t = 1 / (1 + 0.5 * Math.abs(x));
  const y =
    1 -
    t *
      Math.exp(
        -x * x -
          1.26551223 +
          t *
            (1.00002368 +
              t *
                (0.37409196 +
                  t *
                    (0.09678418 +
                      t *
                        (-0.18628806 +
                          t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
      );
  return x >= 0 ? y : -y;
}
