// Global-norm gradient clipping, as torch.nn.utils.clip_grad_norm_ (torch/nn/utils/clip_grad.py):
// the norm of the per-parameter gradient norms; gradients are scaled by min(1, max / (norm + 1e-6)).

import type { Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';

/** Clips the gradients of `params` in place; returns the total norm before clipping. */
export function clipGradNorm_(params: Tensor[], maxNorm: number, normType = 2): number {
  if (!(maxNorm >= 0)) throw new Error(`clipGradNorm_: maxNorm must be >= 0, got ${maxNorm}`);
  return torch.noGrad(() =>
    torch.tidy(() => {
      const grads = params.map((p) => p.grad).filter((g): g is Tensor => g !== null);
      if (grads.length === 0) return 0;
      const norms = torch.callOp<Tensor[]>('aten::_foreach_norm.Scalar', grads, normType, null);
      const total = torch.stack(norms).norm(normType);
      // Multiplying by a clamped coefficient (rather than branching on it) is what PyTorch does,
      // so the clipped values match it bit for bit.
      const coef = torch.fullLike(total, maxNorm).div(total.add(1e-6)).clamp(null, 1);
      torch.callOpVoid('aten::_foreach_mul_.Tensor', grads, coef);
      return total.item();
    }),
  );
}

/** The global gradient norm without clipping. */
export function gradNorm(params: Tensor[], normType = 2): number {
  return torch.noGrad(() =>
    torch.tidy(() => {
      const grads = params.map((p) => p.grad).filter((g): g is Tensor => g !== null);
      if (grads.length === 0) return 0;
      return torch
        .stack(torch.callOp<Tensor[]>('aten::_foreach_norm.Scalar', grads, normType, null))
        .norm(normType)
        .item();
    }),
  );
}
