// Finite-difference gradient check in float64: autograd's gradient of a random projection of
// f's output against central differences, for a sample of elements of each input.
import type { Tensor } from '../../src/torch/index.ts';
import * as torch from '../../src/torch/index.ts';

export interface GradcheckOpts {
  eps?: number;
  /** Tolerance on |numeric − analytic|, relative to max(1, |analytic|). */
  tol?: number;
  /** Elements checked per input (spread evenly over it). */
  perInput?: number;
  seed?: number;
}

/** Returns the worst relative error; throws naming the input and element when it exceeds tol. */
export function gradcheck(f: () => Tensor, inputs: [string, Tensor][], o: GradcheckOpts = {}): number {
  const eps = o.eps ?? 1e-6;
  const tol = o.tol ?? 1e-5;
  const per = o.perInput ?? 12;
  for (const [n, t] of inputs) {
    if (t.dtype !== 'float64') throw new Error(`gradcheck: input ${n} is ${t.dtype}, expected float64`);
  }
  return torch.tidy(() => {
    const g = new torch.Generator(o.seed ?? 7);
    const probe = torch.noGrad(() => f());
    const w = torch.randn(probe.shape, { dtype: 'float64', generator: g });
    const loss = () => f().mul(w).sum();
    const analytic = torch.grad(
      loss(),
      inputs.map(([, t]) => t),
      { allowUnused: true },
    );
    let worst = 0;
    inputs.forEach(([name, t], k) => {
      const an = analytic[k]?.toArray() ?? new Array(t.numel).fill(0);
      const flat = t.view(-1);
      const stride = Math.max(1, Math.floor(t.numel / per));
      for (let j = 0; j < t.numel; j += stride) {
        const num = torch.noGrad(() =>
          torch.tidy(() => {
            const cell = flat.narrow(0, j, 1);
            cell.add_(eps);
            const up = loss().item();
            cell.add_(-2 * eps);
            const down = loss().item();
            cell.add_(eps);
            return (up - down) / (2 * eps);
          }),
        );
        const err = Math.abs(num - an[j]) / Math.max(1, Math.abs(an[j]));
        worst = Math.max(worst, err);
        if (err > tol) throw new Error(`gradcheck: ${name}[${j}] numeric ${num} vs autograd ${an[j]} (rel err ${err})`);
      }
    });
    return worst;
  });
}
