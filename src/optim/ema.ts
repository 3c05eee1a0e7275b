// Exponential moving average of a module's parameters, as MAR keeps it (LTH14/mar engine_mar.py
// `update_ema`: ema = decay * ema + (1 - decay) * param after every optimizer step), with
// swap-in/swap-out so evaluation and sampling run on the averaged weights.

import type { Module, StateDict } from '../nn/module.ts';
import type { Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';

export class EMA {
  /** Averaged copies of the trainable parameters, in the module's order, named as the module names them. */
  readonly shadow: Map<string, Tensor>;
  private readonly params: [string, Tensor][];
  private swapped = false;

  constructor(
    module: Module,
    readonly decay: number,
  ) {
    if (!(decay >= 0 && decay <= 1)) throw new Error(`EMA: decay must be in [0, 1], got ${decay}`);
    // frozen parameters (a distilled head's teacher) do not move: averaging them would only add rounding
    this.params = module.namedParameters().filter(([, p]) => p.requiresGrad);
    this.shadow = torch.noGrad(() => new Map(this.params.map(([n, p]) => [n, torch.keep(p.detach().clone())])));
  }

  /** ema ← decay · ema + (1 − decay) · param, for every parameter (one fused foreach call each). */
  update(decay = this.decay): void {
    if (this.swapped) throw new Error('EMA.update: the EMA weights are swapped in; call swapOut() first');
    torch.noGrad(() =>
      torch.tidy(() => {
        const ema = [...this.shadow.values()];
        const src = this.params.map(([, p]) => p);
        // mul_ then add_(alpha) rather than lerp_, so the values match MAR's update bit for bit.
        torch.callOpVoid('aten::_foreach_mul_.Scalar', ema, decay);
        torch.callOpVoid('aten::_foreach_add_.List', ema, src, 1 - decay);
      }),
    );
  }

  /** Puts the averaged weights into the module (the live ones are kept here until swapOut). */
  swapIn(): void {
    if (this.swapped) throw new Error('EMA.swapIn: already swapped in');
    this.exchange();
    this.swapped = true;
  }

  /** Restores the live weights. */
  swapOut(): void {
    if (!this.swapped) throw new Error('EMA.swapOut: not swapped in');
    this.exchange();
    this.swapped = false;
  }

  /** Runs `fn` with the averaged weights in the module, then restores the live ones. */
  withEma<T>(fn: () => T): T {
    this.swapIn();
    try {
      return fn();
    } finally {
      this.swapOut();
    }
  }

  get isSwappedIn(): boolean {
    return this.swapped;
  }

  private exchange(): void {
    torch.noGrad(() =>
      torch.tidy(() => {
        for (const [n, p] of this.params) {
          const e = this.shadow.get(n) as Tensor;
          const tmp = p.detach().clone();
          p.copy_(e);
          e.copy_(tmp);
        }
      }),
    );
  }

  /** The averaged weights by parameter name (the EMA's own tensors, not copies). */
  stateDict(): StateDict {
    return this.shadow;
  }

  /** Loads averaged weights; names and shapes must match the module's parameters exactly. */
  loadStateDict(sd: StateDict): void {
    const problems: string[] = [];
    for (const [n, t] of this.shadow) {
      const s = sd.get(n);
      if (!s) problems.push(`missing key ${n}`);
      else if (s.shape.join(',') !== t.shape.join(','))
        problems.push(`shape mismatch ${n}: expected [${t.shape}], got [${s.shape}]`);
    }
    for (const n of sd.keys()) if (!this.shadow.has(n)) problems.push(`unexpected key ${n}`);
    if (problems.length > 0) throw new Error(`EMA.loadStateDict: ${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
    torch.noGrad(() => {
      for (const [n, t] of this.shadow) t.copy_(sd.get(n) as Tensor);
    });
  }

  dispose(): void {
    torch.dispose([...this.shadow.values()]);
    this.shadow.clear();
  }
}
