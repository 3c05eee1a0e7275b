// Autograd entry points with PyTorch's semantics.
import { native } from './native.ts';
import { Tensor } from './tensor.ts';

/** Runs `fn` with gradient recording off (like `with torch.no_grad()`). */
export function noGrad<T>(fn: () => T): T {
  const prev = native.setGradEnabled(false);
  try {
    return fn();
  } finally {
    native.setGradEnabled(prev);
  }
}

export function enableGrad<T>(fn: () => T): T {
  const prev = native.setGradEnabled(true);
  try {
    return fn();
  } finally {
    native.setGradEnabled(prev);
  }
}

export function isGradEnabled(): boolean {
  return native.isGradEnabled();
}

export function setGradEnabled(on: boolean): boolean {
  return native.setGradEnabled(on);
}

export function backward(
  tensors: Tensor[],
  grads?: (Tensor | null)[],
  opts: { retainGraph?: boolean; createGraph?: boolean } = {},
): void {
  native.backward(
    tensors.map((t) => t.h),
    grads ? grads.map((g) => g?.h ?? null) : null,
    opts.retainGraph ?? null,
    opts.createGraph ?? false,
  );
}

/** `torch.autograd.grad`: gradients of `outputs` w.r.t. `inputs` (null where unused). */
export function grad(
  outputs: Tensor | Tensor[],
  inputs: Tensor | Tensor[],
  opts: { gradOutputs?: (Tensor | null)[]; retainGraph?: boolean; createGraph?: boolean; allowUnused?: boolean } = {},
): (Tensor | null)[] {
  const outs = Array.isArray(outputs) ? outputs : [outputs];
  const ins = Array.isArray(inputs) ? inputs : [inputs];
  const gs = native.autogradGrad(
    outs.map((t) => t.h),
    ins.map((t) => t.h),
    opts.gradOutputs ? opts.gradOutputs.map((g) => g?.h ?? null) : null,
    opts.retainGraph ?? null,
    opts.createGraph ?? false,
    opts.allowUnused ?? false,
  );
  return gs.map((g) => (g === null ? null : new Tensor(g)));
}
