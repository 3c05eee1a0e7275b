// Finite-difference gradient checks in float64, in the spirit of torch.autograd.gradcheck /
// gradgradcheck: the output is reduced to a scalar with a fixed random projection
// s = sum(fn(x) * w), and autograd's ds/dx is compared with central differences
// (s(x + eps e_i) - s(x - eps e_i)) / 2eps, element by element.
import assert from 'node:assert/strict';
import type { Tensor } from '../../src/torch/index.ts';
import * as torch from '../../src/torch/index.ts';

export interface GradcheckOpts {
  eps?: number;
  atol?: number;
  rtol?: number;
  /** Seed of the projection weights. */
  seed?: number;
  what?: string;
}

type Fn = (...xs: Tensor[]) => Tensor;

function checkInputs(inputs: Tensor[], what: string): void {
  inputs.forEach((x, i) => {
    if (x.dtype !== 'float64') throw new Error(`${what}: input ${i} is ${x.dtype}; gradcheck needs float64 inputs`);
  });
}

/** Central differences of the scalar function `f` at each element of `inputs[k]`. */
function numericGrad(f: (xs: Tensor[]) => number, inputs: Tensor[], k: number, eps: number): Float64Array {
  const x = inputs[k];
  const base = x.toTypedArray() as Float64Array;
  const out = new Float64Array(base.length);
  const at = (i: number, delta: number) =>
    torch.tidy(() => {
      const moved = base.slice();
      moved[i] += delta;
      const xs = inputs.map((t, j) => (j === k ? torch.tensor(moved, { shape: x.shape }) : t));
      return f(xs);
    });
  for (let i = 0; i < base.length; i++) out[i] = (at(i, eps) - at(i, -eps)) / (2 * eps);
  return out;
}

function compare(analytic: Tensor | null, numeric: Float64Array, tol: Required<GradcheckOpts>, label: string): void {
  const a = analytic === null ? new Float64Array(numeric.length) : (analytic.toTypedArray() as Float64Array);
  assert.equal(a.length, numeric.length, `${label}: gradient has ${a.length} elements, input has ${numeric.length}`);
  for (let i = 0; i < a.length; i++) {
    const err = Math.abs(a[i] - numeric[i]);
    if (!(err <= tol.atol + tol.rtol * Math.abs(numeric[i]))) {
      assert.fail(`${label}: element ${i}: autograd ${a[i]} vs finite difference ${numeric[i]} (|diff| ${err})`);
    }
  }
}

function fill(opts: GradcheckOpts): Required<GradcheckOpts> {
  return { eps: 1e-6, atol: 1e-5, rtol: 1e-3, seed: 0, what: 'gradcheck', ...opts };
}

/** Asserts autograd's gradient of `fn` w.r.t. each of `inputs` (float64) matches finite differences. */
export function gradcheck(fn: Fn, inputs: Tensor[], opts: GradcheckOpts = {}): void {
  const tol = fill(opts);
  checkInputs(inputs, tol.what);
  torch.tidy(() => {
    const leaves = inputs.map((x) => x.detach().requiresGrad_());
    const out = fn(...leaves);
    const w = torch.randn(out.shape, { dtype: 'float64', generator: new torch.Generator(tol.seed) });
    const analytic = torch.grad(out.mul(w).sum(), leaves, { allowUnused: true });
    const f = (xs: Tensor[]) =>
      torch.noGrad(() =>
        fn(...xs)
          .mul(w)
          .sum()
          .item(),
      );
    leaves.forEach((_, k) => {
      compare(analytic[k], numericGrad(f, leaves, k, tol.eps), tol, `${tol.what}: input ${k}`);
    });
  });
}

/**
 * Second-order check: with g(x) = d/dx sum(fn(x) * w), autograd's gradient of sum(g(x) * v)
 * (through `torch.grad(..., {createGraph: true})`) must match finite differences of it.
 */
export function gradgradcheck(fn: Fn, inputs: Tensor[], opts: GradcheckOpts = {}): void {
  const tol = fill(opts);
  checkInputs(inputs, tol.what);
  torch.tidy(() => {
    const gen = new torch.Generator(tol.seed);
    const leaves = inputs.map((x) => x.detach().requiresGrad_());
    const out = fn(...leaves);
    const w = torch.randn(out.shape, { dtype: 'float64', generator: gen });
    const vs = leaves.map((x) => torch.randn(x.shape, { dtype: 'float64', generator: gen }));
    // s2(x) = sum_k <d/dx_k sum(fn(x) * w), v_k>
    const s2 = (xs: Tensor[], createGraph: boolean): Tensor => {
      const gs = torch.grad(
        fn(...xs)
          .mul(w)
          .sum(),
        xs,
        { createGraph, allowUnused: true },
      );
      return gs.reduce<Tensor>(
        (acc, g, k) => (g === null ? acc : acc.add(g.mul(vs[k]).sum())),
        torch.zeros([], { dtype: 'float64' }),
      );
    };
    const analytic = torch.grad(s2(leaves, true), leaves, { allowUnused: true });
    const f = (xs: Tensor[]) =>
      s2(
        xs.map((x) => x.detach().requiresGrad_()),
        false,
      ).item();
    leaves.forEach((_, k) => {
      compare(analytic[k], numericGrad(f, leaves, k, tol.eps), tol, `${tol.what}: second order, input ${k}`);
    });
  });
}
