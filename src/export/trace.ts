// Records the ATen operators a function runs, by intercepting the addon's two call entry points
// (every d2c tensor op goes through native.call / native.callVoid). One recording is one trace at
// concrete sizes; graph.ts merges several traces into a size-polymorphic graph.
//
// Values are numbered in order of appearance: the named inputs first, then every tensor an op
// reads that no recorded op produced (parameters, buffers, tensors made from JS data) as a
// constant snapshot, then op outputs. In-place ops are made functional: an op writing into a
// value gives a new value under the same handle, and writing into a narrow()/slice() view of a
// value also rewrites that base (a `d2c::slice_update` node: base, the view op's name and
// arguments, the view's new value).
import { dtypeName } from '../torch/dtype.ts';
import type { DType, Tensor } from '../torch/index.ts';
import { type Handle, native } from '../torch/native.ts';
import { schemaOfId } from './schema.ts';

export interface ValueInfo {
  shape: number[];
  dtype: DType;
}

/** A node's argument: a value, a list of values (null = absent), or a plain JS value. */
export type TraceArg = { v: number } | { vs: (number | null)[] } | { c: unknown };

export interface TraceNode {
  op: string;
  args: TraceArg[];
  outs: number[];
}

export interface Trace {
  inputs: { name: string; id: number }[];
  outputs: { name: string; id: number }[];
  /** Constant snapshots by value id. */
  constants: Map<number, { data: ArrayBuffer } & ValueInfo>;
  values: ValueInfo[];
  nodes: TraceNode[];
}

const VIEW_OPS = new Set(['aten::narrow', 'aten::slice.Tensor']);

/**
 * Runs fn(inputs) once and records its ops. `inputs` are named tensors; fn returns named tensors.
 * fn may read values into JS (an input check's min/max); a branch on data would show up as traces
 * of different structure when graph.ts merges traces of different inputs.
 */
export function trace(inputs: Record<string, Tensor>, fn: (x: Record<string, Tensor>) => Record<string, Tensor>): Trace {
  const tr: Trace = { inputs: [], outputs: [], constants: new Map(), values: [], nodes: [] };
  const byHandle = new Map<Handle, number>();
  /** value id of a narrow/slice view → its base and the slicing (dim, start, end as in slice.Tensor) */
  const views = new Map<number, { base: number; args: TraceArg[] }>();
  const info = (h: Handle): ValueInfo => ({ shape: native.shape(h), dtype: dtypeName(native.dtype(h)) });
  const newValue = (h: Handle): number => {
    const id = tr.values.length;
    tr.values.push(info(h));
    byHandle.set(h, id);
    return id;
  };
  const valueIdOf = (h: Handle): number => {
    const known = byHandle.get(h);
    if (known !== undefined) return known;
    const id = newValue(h);
    const contiguous = native.isContiguous(h);
    // toBuffer of a non-contiguous tensor is not row-major: snapshot through the original call
    if (!contiguous)
      throw new Error('trace: a constant tensor is not contiguous (call .contiguous() on it before the traced function)');
    tr.constants.set(id, { data: origToBuffer(h), ...tr.values[id] });
    return id;
  };

  const origCall = native.call;
  const origVoid = native.callVoid;
  const origToBuffer = (h: Handle) => native.toBuffer(h);
  let depth = 0;

  const record = (id: number, args: unknown[], result: unknown): unknown => {
    const s = schemaOfId(id);
    if (/rand|normal|bernoulli|multinomial|exponential|uniform/.test(s.qualified)) {
      throw new Error(`trace: ${s.qualified} draws random numbers; a traced graph must be deterministic`);
    }
    const targs: TraceArg[] = args.map((a, i) => {
      const kind = s.args[i]?.kind ?? 'value';
      if (kind === 'tensor' || kind === 'tensor?')
        return a === null || a === undefined ? { c: null } : { v: valueIdOf(a as Handle) };
      if (kind === 'tensors' || kind === 'tensor?s')
        return { vs: (a as (Handle | null)[]).map((h) => (h === null ? null : valueIdOf(h))) };
      return { c: a };
    });
    const mutates = s.args[0]?.mutable ?? false;
    if (mutates) {
      // functional form: the op's result becomes a new value; the handle now names it
      const self = targs[0] as { v: number };
      const selfHandle = args[0] as Handle;
      const out = tr.values.length;
      tr.values.push(info(selfHandle));
      tr.nodes.push({ op: s.qualified, args: targs, outs: [out] });
      byHandle.set(selfHandle, out);
      const view = views.get(self.v);
      if (view) {
        const base = tr.values.length;
        tr.values.push({ ...tr.values[view.base] });
        tr.nodes.push({ op: 'd2c::slice_update', args: [{ v: view.base }, ...view.args, { v: out }], outs: [base] });
        for (const [h, vid] of byHandle) if (vid === view.base) byHandle.set(h, base);
        views.set(out, { base, args: view.args });
      }
      return result;
    }
    const kinds = s.returns;
    const outHandles: Handle[] =
      kinds === 't'
        ? [result as Handle]
        : kinds === 'l'
          ? (result as Handle[])
          : [...kinds].flatMap((k, i) => {
              const r = (result as unknown[])[i];
              if (k === 't') return [r as Handle];
              if (k === 'l') return r as Handle[];
              throw new Error(`trace: ${s.qualified} returns a non-tensor value, which a graph cannot hold`);
            });
    const outs = outHandles.map((h) => newValue(h));
    tr.nodes.push({ op: s.qualified, args: targs, outs });
    if (VIEW_OPS.has(s.qualified)) {
      views.set(outs[0], { base: (targs[0] as { v: number }).v, args: [{ c: s.qualified }, ...targs.slice(1)] });
    }
    return result;
  };

  native.call = (id: number, ...args: unknown[]) => {
    const r = origCall.call(native, id, ...args);
    if (depth > 0) return r;
    depth++;
    try {
      return record(id, args, r);
    } finally {
      depth--;
    }
  };
  native.callVoid = (id: number, ...args: unknown[]) => {
    origVoid.call(native, id, ...args);
    if (depth > 0) return;
    depth++;
    try {
      record(id, args, args[0]);
    } finally {
      depth--;
    }
  };
  try {
    for (const [name, t] of Object.entries(inputs)) {
      const id = newValue(t.h);
      tr.inputs.push({ name, id });
    }
    const out = fn(inputs);
    for (const [name, t] of Object.entries(out)) {
      const id = byHandle.get(t.h);
      if (id === undefined) throw new Error(`trace: output ${name} was not computed by the traced function`);
      tr.outputs.push({ name, id });
    }
  } finally {
    native.call = origCall;
    native.callVoid = origVoid;
  }
  return tr;
}
