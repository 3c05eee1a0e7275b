// Module: parameters, buffers and submodules with PyTorch's state_dict names
// (`blocks.0.attn.qkv.weight`), so reference checkpoints load by name.

import type { Device, DType, Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';

export type StateDict = Map<string, Tensor>;

export class Module {
  training = true;
  private readonly _params = new Map<string, Tensor | null>();
  private readonly _buffers = new Map<string, { t: Tensor | null; persistent: boolean }>();
  private readonly _modules = new Map<string, Module>();

  /** Registers a trainable tensor (taken out of any tidy scope, requiresGrad on). */
  registerParameter<T extends Tensor | null>(name: string, t: T): T {
    if (t !== null) {
      torch.keep(t);
      if (!t.requiresGrad) t.requiresGrad = true;
    }
    this._params.set(name, t);
    return t;
  }

  /** Registers a non-trainable tensor; persistent buffers are part of the state dict. */
  registerBuffer<T extends Tensor | null>(name: string, t: T, persistent = true): T {
    if (t !== null) torch.keep(t);
    this._buffers.set(name, { t, persistent });
    return t;
  }

  registerModule<M extends Module>(name: string, m: M): M {
    this._modules.set(name, m);
    return m;
  }

  children(): [string, Module][] {
    return [...this._modules.entries()];
  }

  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [n, m] of this._modules) out.push(...m.namedModules(prefix ? `${prefix}.${n}` : n));
    return out;
  }

  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    for (const [mp, m] of this.namedModules(prefix)) {
      for (const [n, p] of m._params) {
        if (p !== null && !seen.has(p)) {
          seen.add(p);
          out.push([mp ? `${mp}.${n}` : n, p]);
        }
      }
    }
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  namedBuffers(prefix = '', persistentOnly = false): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [mp, m] of this.namedModules(prefix)) {
      for (const [n, b] of m._buffers) {
        if (b.t !== null && (!persistentOnly || b.persistent)) out.push([mp ? `${mp}.${n}` : n, b.t]);
      }
    }
    return out;
  }

  /** Parameters and persistent buffers by name; the tensors are the module's own (not copies). */
  stateDict(): StateDict {
    return new Map([...this.namedParameters(), ...this.namedBuffers('', true)]);
  }

  numParameters(trainableOnly = false): number {
    return this.parameters()
      .filter((p) => !trainableOnly || p.requiresGrad)
      .reduce((a, p) => a + p.numel, 0);
  }

  /**
   * Copies values from `sd` into this module's tensors. With `strict`, every missing key,
   * unexpected key and shape mismatch is named in one error; nothing is changed on error.
   */
  loadStateDict(sd: StateDict | Record<string, Tensor>, strict = true): { missing: string[]; unexpected: string[] } {
    const src = sd instanceof Map ? sd : new Map(Object.entries(sd));
    const own = this.stateDict();
    const missing = [...own.keys()].filter((k) => !src.has(k));
    const unexpected = [...src.keys()].filter((k) => !own.has(k));
    const mismatched: string[] = [];
    for (const [k, t] of own) {
      const s = src.get(k);
      if (s && JSON.stringify(s.shape) !== JSON.stringify(t.shape)) {
        mismatched.push(`${k}: expected [${t.shape.join(', ')}], got [${s.shape.join(', ')}]`);
      }
    }
    const problems = [
      ...mismatched.map((m) => `shape mismatch ${m}`),
      ...(strict ? missing.map((k) => `missing key ${k}`) : []),
      ...(strict ? unexpected.map((k) => `unexpected key ${k}`) : []),
    ];
    if (problems.length > 0) {
      throw new Error(`loadStateDict: ${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
    }
    torch.noGrad(() => {
      for (const [k, t] of own) {
        const s = src.get(k);
        if (s) t.copy_(s);
      }
    });
    return { missing, unexpected };
  }

  train(on = true): this {
    for (const [, m] of this.namedModules()) m.training = on;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Moves/casts every parameter and buffer in place (floating dtypes only are cast). */
  to(target: Device | DType): this {
    const isDtype = torch.isDType(target);
    torch.noGrad(() => {
      for (const t of [...this.parameters(), ...this.namedBuffers().map(([, b]) => b)]) {
        if (isDtype && !torch.isFloating(t.dtype)) continue;
        const rg = t.requiresGrad;
        const moved = t.to(target).detach();
        torch.keep(moved);
        t._replaceWith(moved);
        if (rg) t.requiresGrad = true;
      }
    });
    return this;
  }

  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }
}

/** A list of submodules named `0`, `1`, … as torch.nn.ModuleList. */
export class ModuleList<M extends Module = Module> extends Module {
  readonly items: M[] = [];

  constructor(items: M[] = []) {
    super();
    for (const m of items) this.push(m);
  }

  push(m: M): void {
    this.registerModule(String(this.items.length), m);
    this.items.push(m);
  }

  get length(): number {
    return this.items.length;
  }

  at(i: number): M {
    const m = this.items[i < 0 ? i + this.items.length : i];
    if (!m) throw new Error(`ModuleList index ${i} out of range (length ${this.items.length})`);
    return m;
  }

  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }
}
