// Merges traces of one function at different sizes into one size-polymorphic graph. Every int a
// node was called with that differs between the traces is a size: it is resolved to the dim of a
// value it equals in every trace (inputs first), or an affine a·dim + c of one, or a product of
// two dims, so the ONNX graph computes it from the shapes it is given. A trace whose op sequence
// differs from the others (a branch on the input sizes or data) is an error.
import type { DType } from '../torch/index.ts';
import type { Trace, TraceArg } from './trace.ts';

/** A size computed from the runtime shapes. */
export type SymExpr =
  | { dim: [number, number] }
  | { affine: [SymExpr, number, number] } // a·e + c
  | { mul: [SymExpr, SymExpr] };

export interface Sym {
  sym: SymExpr;
  /** The size in each trace (for checks and readable errors). */
  at: number[];
}

export type GArg = { v: number } | { vs: (number | null)[] } | { c: unknown };

export interface GNode {
  op: string;
  args: GArg[];
  outs: number[];
}

export interface GValue {
  dtype: DType;
  /** Shape in the first trace, with null where the dim differs between traces. */
  shape: (number | null)[];
  shapes: number[][];
}

export interface Graph {
  inputs: { name: string; id: number }[];
  outputs: { name: string; id: number }[];
  constants: Trace['constants'];
  values: GValue[];
  nodes: GNode[];
}

export function isSym(x: unknown): x is Sym {
  return typeof x === 'object' && x !== null && 'sym' in x;
}

export function mergeTraces(traces: Trace[], graphName: string): Graph {
  const [t0] = traces;
  const fail = (msg: string): never => {
    throw new Error(`${graphName}: ${msg}`);
  };
  for (const t of traces) {
    if (t.nodes.length !== t0.nodes.length || t.values.length !== t0.values.length) {
      fail(
        `the traced ops differ between input sizes (${t0.nodes.length} vs ${t.nodes.length} ops); the graph branches on sizes or data`,
      );
    }
  }
  const values: GValue[] = t0.values.map((v, id) => {
    const shapes = traces.map((t) => t.values[id].shape);
    if (shapes.some((s) => s.length !== v.shape.length) || traces.some((t) => t.values[id].dtype !== v.dtype)) {
      fail(`value ${id} changes rank or dtype between input sizes`);
    }
    return { dtype: v.dtype, shape: v.shape.map((d, i) => (shapes.every((s) => s[i] === d) ? d : null)), shapes };
  });
  for (const [id, c] of t0.constants) {
    if (values[id].shape.includes(null))
      fail(`a constant of shape [${c.shape}] depends on the input sizes; make it from an op instead`);
  }
  const inputIds = new Set(t0.inputs.map((i) => i.id));
  const resolve = (at: number[], before: number): Sym => {
    // candidate dims: inputs first, then values defined so far
    const cands: [number, number][] = [];
    const order = [...inputIds, ...Array.from({ length: before }, (_, i) => i).filter((i) => !inputIds.has(i))];
    for (const id of order)
      for (let d = 0; d < values[id].shape.length; d++) if (values[id].shape[d] === null) cands.push([id, d]);
    const dimAt = ([id, d]: [number, number]) => values[id].shapes.map((s) => s[d]);
    for (const c of cands) if (dimAt(c).every((x, k) => x === at[k])) return { sym: { dim: c }, at };
    for (const c of cands) {
      const x = dimAt(c);
      if (x[1] === x[0]) continue;
      const a = (at[1] - at[0]) / (x[1] - x[0]);
      const b = at[0] - a * x[0];
      if (Number.isInteger(a) && a !== 0 && x.every((xi, k) => a * xi + b === at[k]))
        return { sym: { affine: [{ dim: c }, a, b] }, at };
    }
    for (const c1 of cands)
      for (const c2 of cands) {
        const x = dimAt(c1);
        const y = dimAt(c2);
        if (x.every((xi, k) => xi * y[k] === at[k])) return { sym: { mul: [{ dim: c1 }, { dim: c2 }] }, at };
      }
    for (const c1 of cands) {
      const x = dimAt(c1);
      for (let id = 0; id < before; id++)
        for (let d = 0; d < values[id].shape.length; d++) {
          const s = values[id].shape[d];
          if (s !== null && x.every((xi, k) => xi * s === at[k])) return { sym: { affine: [{ dim: c1 }, s, 0] }, at };
        }
    }
    return fail(`a size (${at.join(', ')} in the traces) is not a dim of any value, nor an affine map or product of them`);
  };
  const mergeConst = (cs: unknown[], before: number): unknown => {
    const [c] = cs;
    if (cs.every((x) => JSON.stringify(x) === JSON.stringify(c))) return c;
    if (cs.every((x) => typeof x === 'number')) return resolve(cs as number[], before);
    if (cs.every((x) => Array.isArray(x) && x.length === (c as unknown[]).length)) {
      return (c as unknown[]).map((_, i) =>
        mergeConst(
          cs.map((x) => (x as unknown[])[i]),
          before,
        ),
      );
    }
    return fail(`an op argument differs between input sizes in a way the graph cannot express: ${JSON.stringify(cs)}`);
  };
  const nodes: GNode[] = t0.nodes.map((n, i) => {
    const ns = traces.map((t) => t.nodes[i]);
    if (ns.some((m) => m.op !== n.op))
      fail(`op ${i} is ${n.op} in one trace and ${ns.find((m) => m.op !== n.op)?.op} in another`);
    const before = Math.min(...n.outs, values.length);
    const args = n.args.map((a, j): GArg => {
      if ('c' in a)
        return {
          c: mergeConst(
            ns.map((m) => (m.args[j] as { c: unknown }).c),
            before,
          ),
        };
      const same = ns.every((m) => JSON.stringify(m.args[j]) === JSON.stringify(a));
      if (!same) fail(`op ${i} (${n.op}) reads different values in different traces`);
      return a as TraceArg as GArg;
    });
    return { op: n.op, args, outs: n.outs };
  });
  return { inputs: t0.inputs, outputs: t0.outputs, constants: t0.constants, values, nodes };
}
