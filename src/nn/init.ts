// Parameter initialisers (torch.nn.init), each taking an optional seeded generator.

import type { Generator, Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';

export function uniform_(t: Tensor, a: number, b: number, generator?: Generator): Tensor {
  return torch.noGrad(() => torch.uniform_(t, a, b, generator));
}

export function normal_(t: Tensor, mean = 0, std = 1, generator?: Generator): Tensor {
  return torch.noGrad(() => torch.normal_(t, mean, std, generator));
}

/** Normal(mean, std) truncated to [a, b] (absolute bounds, as torch.nn.init.trunc_normal_). */
export function truncNormal_(t: Tensor, mean = 0, std = 1, a = -2, b = 2, generator?: Generator): Tensor {
  // Inverse-CDF method, as PyTorch does it.
  const cdf = (x: number) => (1 + erf(x / Math.SQRT2)) / 2;
  const l = cdf((a - mean) / std);
  const u = cdf((b - mean) / std);
  return torch.noGrad(() => {
    torch.uniform_(t, 2 * l - 1, 2 * u - 1, generator);
    torch.tidy(() => {
      t.copy_(
        torch
          .callOp<Tensor>('aten::erfinv', t)
          .mul(std * Math.SQRT2)
          .add(mean),
      );
    });
    t.clamp_(a, b);
    return t;
  });
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
