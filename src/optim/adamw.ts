// AdamW (decoupled weight decay, Loshchilov & Hutter) over libtorch's fused kernel
// `aten::_fused_adamw_`, with torch.optim's parameter groups and state layout: per parameter
// `exp_avg`, `exp_avg_sq` and a float32 scalar `step` tensor (torch/optim/adamw.py, adam.py).

import { Embedding } from '../nn/layers.ts';
import type { Module } from '../nn/module.ts';
import type { Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';

export interface AdamWHyper {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
  maximize: boolean;
}

export interface ParamGroupSpec extends Partial<AdamWHyper> {
  params: Tensor[];
  /** Names of the parameters (for error messages and checkpoints); optional. */
  names?: string[];
  /** Multiplies the scheduled lr (MAR's `lr_scale`); 1 by default. */
  lrScale?: number;
}

export interface ParamGroup extends AdamWHyper {
  params: Tensor[];
  names: string[];
  lrScale: number;
}

interface ParamState {
  step: Tensor; // float32 scalar, as PyTorch keeps it for the fused kernels
  expAvg: Tensor;
  expAvgSq: Tensor;
  maxExpAvgSq: Tensor | null;
}

/** What `stateDict` returns: tensors for optimizer.safetensors and JSON for the hyper-parameters. */
export interface OptimizerState {
  tensors: Map<string, Tensor>;
  groups: Omit<ParamGroup, 'params'>[];
}

const DEFAULTS: AdamWHyper = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, amsgrad: false, maximize: false };

export class AdamW {
  readonly groups: ParamGroup[];
  private readonly state = new Map<Tensor, ParamState>();

  constructor(params: Tensor[] | ParamGroupSpec[], defaults: Partial<AdamWHyper> = {}) {
    const d = { ...DEFAULTS, ...defaults };
    const specs: ParamGroupSpec[] =
      params.length > 0 && !(params[0] as ParamGroupSpec).params
        ? [{ params: params as Tensor[] }]
        : (params as ParamGroupSpec[]);
    const seen = new Set<Tensor>();
    this.groups = specs.map((s, gi) => {
      const names = s.names ?? s.params.map((_, i) => `group${gi}.${i}`);
      if (names.length !== s.params.length) {
        throw new Error(`AdamW: group ${gi} has ${s.params.length} params but ${names.length} names`);
      }
      for (const [i, p] of s.params.entries()) {
        if (seen.has(p)) throw new Error(`AdamW: parameter ${names[i]} appears in more than one group`);
        seen.add(p);
      }
      const g: ParamGroup = {
        lr: s.lr ?? d.lr,
        betas: s.betas ?? d.betas,
        eps: s.eps ?? d.eps,
        weightDecay: s.weightDecay ?? d.weightDecay,
        amsgrad: s.amsgrad ?? d.amsgrad,
        maximize: s.maximize ?? d.maximize,
        params: s.params,
        names,
        lrScale: s.lrScale ?? 1,
      };
      checkHyper(g, gi);
      return g;
    });
  }

  /** Sets every group's lr to `lr × lrScale` (as MAR's adjust_learning_rate). */
  setLr(lr: number): void {
    for (const g of this.groups) g.lr = lr * g.lrScale;
  }

  /** One AdamW step on every parameter that has a gradient. */
  step(): void {
    torch.noGrad(() =>
      torch.tidy(() => {
        for (const g of this.groups) this.stepGroup(g);
      }),
    );
  }

  private stepGroup(g: ParamGroup): void {
    const params: Tensor[] = [];
    const grads: Tensor[] = [];
    const states: ParamState[] = [];
    for (const p of g.params) {
      const grad = p.grad;
      if (grad === null) continue;
      params.push(p);
      grads.push(grad);
      states.push(this.stateOf(p, g.amsgrad));
    }
    if (params.length === 0) return;
    // The kernel reads `step` but does not advance it: torch.optim's _fused_adamw increments first.
    torch.callOpVoid(
      'aten::_foreach_add_.Scalar',
      states.map((s) => s.step),
      1,
    );
    torch.callOpVoid(
      'aten::_fused_adamw_',
      params,
      grads,
      states.map((s) => s.expAvg),
      states.map((s) => s.expAvgSq),
      g.amsgrad ? states.map((s) => s.maxExpAvgSq as Tensor) : [],
      states.map((s) => s.step),
      g.lr,
      g.betas[0],
      g.betas[1],
      g.weightDecay,
      g.eps,
      g.amsgrad,
      g.maximize,
      null,
      null,
    );
  }

  private stateOf(p: Tensor, amsgrad: boolean): ParamState {
    let s = this.state.get(p);
    if (!s) {
      s = torch.keep({
        step: torch.zeros([], { dtype: 'float32', device: p.device }),
        expAvg: torch.zerosLike(p),
        expAvgSq: torch.zerosLike(p),
        maxExpAvgSq: amsgrad ? torch.zerosLike(p) : null,
      });
      this.state.set(p, s);
    }
    return s;
  }

  /** Drops every parameter's gradient (set to None, PyTorch's default). */
  zeroGrad(): void {
    for (const g of this.groups) for (const p of g.params) p.grad = null;
  }

  /** Number of steps taken by the first parameter that has state (0 before the first step). */
  get stepCount(): number {
    for (const s of this.state.values()) return s.step.item();
    return 0;
  }

  /**
   * State as PyTorch lays it out: tensors `state.<i>.exp_avg|exp_avg_sq|step[|max_exp_avg_sq]`,
   * i = the parameter's position across all groups; the tensors are copies.
   */
  stateDict(): OptimizerState {
    const tensors = new Map<string, Tensor>();
    let i = 0;
    for (const g of this.groups) {
      for (const p of g.params) {
        const s = this.state.get(p);
        if (s) {
          tensors.set(`state.${i}.step`, torch.keep(s.step.clone()));
          tensors.set(`state.${i}.exp_avg`, torch.keep(s.expAvg.clone()));
          tensors.set(`state.${i}.exp_avg_sq`, torch.keep(s.expAvgSq.clone()));
          if (s.maxExpAvgSq) tensors.set(`state.${i}.max_exp_avg_sq`, torch.keep(s.maxExpAvgSq.clone()));
        }
        i++;
      }
    }
    const groups = this.groups.map(({ params: _, ...rest }) => ({ ...rest, betas: [...rest.betas] as [number, number] }));
    return { tensors, groups };
  }

  /** Restores hyper-parameters and state; every mismatch is named in one error, nothing changes on error. */
  loadStateDict(sd: OptimizerState): void {
    const problems = this.stateDictProblems(sd);
    if (problems.length > 0) throw new Error(`AdamW.loadStateDict: ${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
    sd.groups.forEach((sg, gi) => {
      const { names: _, ...hyper } = sg;
      Object.assign(this.groups[gi], hyper, { betas: [...sg.betas] });
    });
    const flat = this.groups.flatMap((g) => g.params.map((p) => ({ p, amsgrad: g.amsgrad })));
    torch.noGrad(() => {
      flat.forEach(({ p, amsgrad }, i) => {
        const step = sd.tensors.get(`state.${i}.step`);
        if (!step) return;
        const s = this.stateOf(p, amsgrad);
        s.step.copy_(step);
        s.expAvg.copy_(sd.tensors.get(`state.${i}.exp_avg`) as Tensor);
        s.expAvgSq.copy_(sd.tensors.get(`state.${i}.exp_avg_sq`) as Tensor);
        const m = sd.tensors.get(`state.${i}.max_exp_avg_sq`);
        if (s.maxExpAvgSq && m) s.maxExpAvgSq.copy_(m);
      });
    });
  }

  /** What `loadStateDict` would reject: group count, parameter names and shapes, unknown tensors. */
  stateDictProblems(sd: OptimizerState): string[] {
    const problems: string[] = [];
    if (sd.groups.length !== this.groups.length) {
      problems.push(`${sd.groups.length} param groups in the state, ${this.groups.length} in the optimizer`);
    }
    sd.groups.forEach((sg, gi) => {
      const g = this.groups[gi];
      if (g && sg.names.length !== g.params.length) {
        problems.push(`group ${gi} has ${sg.names.length} params in the state, ${g.params.length} in the optimizer`);
      } else if (g) {
        sg.names.forEach((n, j) => {
          if (n !== g.names[j]) problems.push(`group ${gi} param ${j} is '${n}' in the state, '${g.names[j]}' in the optimizer`);
        });
      }
    });
    const flat = this.groups.flatMap((g) => g.params.map((p, j) => ({ p, name: g.names[j] })));
    const known = new Set<string>();
    flat.forEach(({ p, name }, i) => {
      const has = (k: string) => sd.tensors.has(`state.${i}.${k}`);
      for (const k of ['exp_avg', 'exp_avg_sq']) {
        const key = `state.${i}.${k}`;
        const t = sd.tensors.get(key);
        if (t) {
          known.add(key);
          if (!sameShape(t.shape, p.shape)) problems.push(`${key} (${name}): expected [${p.shape}], got [${t.shape}]`);
        }
      }
      for (const k of ['step', 'max_exp_avg_sq']) if (has(k)) known.add(`state.${i}.${k}`);
      if (has('step') !== (has('exp_avg') && has('exp_avg_sq'))) problems.push(`state.${i} (${name}) is incomplete`);
    });
    for (const k of sd.tensors.keys()) if (!known.has(k)) problems.push(`unexpected tensor ${k}`);
    return problems;
  }

  /** Frees the state tensors. */
  dispose(): void {
    for (const s of this.state.values()) torch.dispose(s);
    this.state.clear();
  }
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function checkHyper(g: ParamGroup, gi: number): void {
  const bad = (what: string, v: unknown) => new Error(`AdamW: group ${gi} has invalid ${what} ${v}`);
  if (!(g.lr >= 0)) throw bad('lr', g.lr);
  if (!(g.eps >= 0)) throw bad('eps', g.eps);
  if (!(g.weightDecay >= 0)) throw bad('weightDecay', g.weightDecay);
  for (const b of g.betas) if (!(b >= 0 && b < 1)) throw bad('betas', `[${g.betas}]`);
}

/**
 * Two groups, decayed and not: 1-d parameters (biases, norm scales), names ending in `.bias`,
 * embedding tables and names matched by `skip` get weight decay 0, as MAR's `add_weight_decay`
 * (LTH14/mar util/misc.py) plus embeddings, which LlamaGen and minGPT also exempt.
 */
export function paramGroupsNoDecay(
  module: Module,
  weightDecay: number,
  opts: { skip?: (name: string) => boolean; embeddings?: boolean } = {},
): ParamGroupSpec[] {
  const embeddingParams = new Set<Tensor>();
  if (opts.embeddings ?? true) {
    for (const [, m] of module.namedModules()) if (m instanceof Embedding) embeddingParams.add(m.weight);
  }
  const decay: ParamGroupSpec = { params: [], names: [], weightDecay };
  const noDecay: ParamGroupSpec = { params: [], names: [], weightDecay: 0 };
  for (const [name, p] of module.namedParameters()) {
    if (!p.requiresGrad) continue;
    const exempt = p.ndim <= 1 || name.endsWith('.bias') || embeddingParams.has(p) || (opts.skip?.(name) ?? false);
    const g = exempt ? noDecay : decay;
    g.params.push(p);
    g.names?.push(name);
  }
  return [noDecay, decay];
}
