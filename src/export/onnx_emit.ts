// Lowers a merged graph (graph.ts) to ONNX (opset 18): each ATen op the d2c modules run maps to
// a few standard ONNX ops (ATEN_TO_ONNX below). Sizes that vary are computed from the runtime
// shapes (Shape/Gather), so one graph serves every batch and position. Complex values (RoPE's
// rotations) are carried as float tensors with a trailing axis of 2 (real, imaginary).
import type { DType } from '../torch/index.ts';
import { type GNode, type Graph, isSym, type Sym, type SymExpr } from './graph.ts';
import { ATTR, ONNX_DTYPE, type OnnxAttr, type OnnxModel, type OnnxNode, type OnnxTensor } from './onnx_proto.ts';

export const OPSET = 18;
const INT64_MAX = 9223372036854775807n;

type Int = number | Sym;

export interface EmitOptions {
  /** Store float32 weights as float16 (cast back to float32 where used: compute stays float32). */
  fp16?: boolean;
  /** Dynamic dim names of the inputs (null = fixed). */
  dims: Record<string, (string | null)[]>;
}

function elemType(d: DType): number {
  const t = (ONNX_DTYPE as Record<string, number>)[d === 'complex64' ? 'float32' : d];
  if (t === undefined) throw new Error(`ONNX export: dtype ${d} is not supported`);
  return t;
}

function i64Bytes(xs: (number | bigint)[]): Uint8Array {
  const a = new BigInt64Array(xs.map((x) => BigInt(x)));
  return new Uint8Array(a.buffer);
}

function scalarBytes(v: number, d: DType): Uint8Array {
  switch (d) {
    case 'float32':
    case 'complex64':
      return new Uint8Array(new Float32Array([v]).buffer);
    case 'float64':
      return new Uint8Array(new Float64Array([v]).buffer);
    case 'int64':
      return i64Bytes([Math.trunc(v)]);
    case 'int32':
      return new Uint8Array(new Int32Array([v]).buffer);
    case 'bool':
    case 'uint8':
      return new Uint8Array([v ? 1 : 0]);
    case 'float16':
      return new Uint8Array(new Uint16Array([toHalf(v)]).buffer);
    default:
      throw new Error(`ONNX export: no scalar of dtype ${d}`);
  }
}

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/** float32 → IEEE half bits (round to nearest even). */
export function toHalf(v: number): number {
  F32[0] = v;
  const x = U32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  if ((h & 0x7c00) === 0x7c00) e = 0x1f;
  return sign | h;
}

export class Emitter {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];
  private counter = 0;
  private readonly names = new Map<number, string>();
  private readonly constCache = new Map<string, string>();
  private readonly shapeCache = new Map<number, string>();

  constructor(
    readonly g: Graph,
    readonly o: EmitOptions,
  ) {}

  fresh(hint: string): string {
    return `${hint}_${this.counter++}`;
  }

  node(op: string, inputs: string[], attrs: OnnxAttr[] = [], nOut = 1, outNames?: string[]): string[] {
    const outs = outNames ?? Array.from({ length: nOut }, () => this.fresh(op));
    this.nodes.push({ op_type: op, input: inputs, output: outs, name: this.fresh(`n_${op}`), attribute: attrs });
    return outs;
  }
  n1(op: string, inputs: string[], attrs: OnnxAttr[] = []): string {
    return this.node(op, inputs, attrs)[0];
  }

  static ints(name: string, v: number[]): OnnxAttr {
    return { name, type: ATTR.INTS, ints: v };
  }
  static int(name: string, v: number): OnnxAttr {
    return { name, type: ATTR.INT, i: v };
  }
  static float(name: string, v: number): OnnxAttr {
    return { name, type: ATTR.FLOAT, f: v };
  }
  static str(name: string, v: string): OnnxAttr {
    return { name, type: ATTR.STRING, s: new TextEncoder().encode(v) };
  }

  /** An initializer from raw bytes (deduplicated by content for small ones). */
  tensor(hint: string, dtype: number, dims: number[], raw: Uint8Array): string {
    const small = raw.byteLength <= 64;
    const key = small ? `${dtype}|${dims}|${Buffer.from(raw).toString('hex')}` : '';
    if (small && this.constCache.has(key)) return this.constCache.get(key) as string;
    const name = this.fresh(hint);
    this.initializers.push({ name, dims, data_type: dtype, raw_data: raw });
    if (small) this.constCache.set(key, name);
    return name;
  }
  i64(xs: (number | bigint)[], scalar = false): string {
    return this.tensor('i64', ONNX_DTYPE.int64, scalar ? [] : [xs.length], i64Bytes(xs));
  }
  scalar(v: number, d: DType): string {
    return this.tensor('s', elemType(d), [], scalarBytes(v, d));
  }

  dtype(id: number): DType {
    return this.g.values[id].dtype;
  }
  /** Rank in ONNX (complex values carry one more axis). */
  rank(id: number): number {
    return this.g.values[id].shape.length + (this.dtype(id) === 'complex64' ? 1 : 0);
  }
  torchRank(id: number): number {
    return this.g.values[id].shape.length;
  }

  /** The ONNX name of a value (constants become initializers on first use). */
  name(id: number): string {
    const known = this.names.get(id);
    if (known) return known;
    const c = this.g.constants.get(id);
    if (!c) throw new Error(`ONNX export: value ${id} is used before it is computed`);
    const dims = c.dtype === 'complex64' ? [...c.shape, 2] : c.shape;
    let name: string;
    if (this.o.fp16 && c.dtype === 'float32' && c.data.byteLength > 64) {
      const f = new Float32Array(c.data);
      const h = new Uint16Array(f.length);
      for (let i = 0; i < f.length; i++) h[i] = toHalf(f[i]);
      name = this.n1(
        'Cast',
        [this.tensor('w16', ONNX_DTYPE.float16, dims, new Uint8Array(h.buffer))],
        [Emitter.int('to', ONNX_DTYPE.float32)],
      );
    } else {
      name = this.tensor('w', elemType(c.dtype), dims, new Uint8Array(c.data));
    }
    this.names.set(id, name);
    return name;
  }
  /** A constant [O, I] float32 weight stored as [I, O] (cached per value). */
  transposedWeight(id: number): string {
    const key = -1 - id;
    const known = this.names.get(key);
    if (known) return known;
    const c = this.g.constants.get(id);
    if (!c) throw new Error(`ONNX export: value ${id} is not a constant`);
    const [o, i] = c.shape;
    const src = new Float32Array(c.data);
    const dst = new Float32Array(src.length);
    for (let r = 0; r < o; r++) for (let q = 0; q < i; q++) dst[q * o + r] = src[r * i + q];
    let name: string;
    if (this.o.fp16) {
      const h = new Uint16Array(dst.length);
      for (let j = 0; j < dst.length; j++) h[j] = toHalf(dst[j]);
      name = this.n1(
        'Cast',
        [this.tensor('wT16', ONNX_DTYPE.float16, [i, o], new Uint8Array(h.buffer))],
        [Emitter.int('to', ONNX_DTYPE.float32)],
      );
    } else {
      name = this.tensor('wT', ONNX_DTYPE.float32, [i, o], new Uint8Array(dst.buffer));
    }
    this.names.set(key, name);
    return name;
  }
  bind(id: number, name: string): void {
    this.names.set(id, name);
  }

  shapeOf(id: number): string {
    let s = this.shapeCache.get(id);
    if (!s) {
      s = this.n1('Shape', [this.name(id)]);
      this.shapeCache.set(id, s);
    }
    return s;
  }

  /** A size expression as int64 [1]. */
  sym(e: SymExpr): string {
    if ('dim' in e) {
      const [id, d] = e.dim;
      return this.n1('Gather', [this.shapeOf(id), this.i64([d])], [Emitter.int('axis', 0)]);
    }
    if ('affine' in e) {
      const [inner, a, c] = e.affine;
      let x = this.sym(inner);
      if (a !== 1) x = this.n1('Mul', [x, this.i64([a])]);
      if (c !== 0) x = this.n1('Add', [x, this.i64([c])]);
      return x;
    }
    return this.n1('Mul', [this.sym(e.mul[0]), this.sym(e.mul[1])]);
  }
  /** An int (static or a size) as int64 [1]. */
  int1(x: Int): string {
    return isSym(x) ? this.sym(x.sym) : this.i64([x]);
  }
  /** A list of ints as int64 [n]: one initializer when all are static. */
  intList(xs: Int[]): string {
    if (xs.every((x) => !isSym(x))) return this.i64(xs as number[]);
    return this.n1(
      'Concat',
      xs.map((x) => this.int1(x)),
      [Emitter.int('axis', 0)],
    );
  }
}

// ---- the op table --------------------------------------------------------------------------

interface Ctx {
  e: Emitter;
  n: GNode;
  /** ONNX name of tensor argument i */
  x(i: number): string;
  /** value id of tensor argument i */
  id(i: number): number;
  /** plain argument i (undefined when not passed: the schema default) */
  c<T = unknown>(i: number): T;
  out: number[];
}

type Lower = (ctx: Ctx) => string | string[];

const normDim = (d: number, rank: number) => (d < 0 ? d + rank : d);
const asList = (x: unknown): Int[] => (Array.isArray(x) ? (x as Int[]) : [x as Int]);
const staticInt = (x: Int, what: string): number => {
  if (isSym(x)) throw new Error(`ONNX export: ${what} must not depend on the input sizes`);
  return x;
};

function castTo(e: Emitter, x: string, from: DType, to: DType): string {
  return from === to ? x : e.n1('Cast', [x], [Emitter.int('to', elemType(to))]);
}

/** Binary elementwise op on two tensor args, both cast to the output's dtype first. */
const binary =
  (op: string): Lower =>
  (k) => {
    const od = k.e.dtype(k.out[0]);
    return k.e.n1(op, [castTo(k.e, k.x(0), k.e.dtype(k.id(0)), od), castTo(k.e, k.x(1), k.e.dtype(k.id(1)), od)]);
  };
/** Binary op of a tensor and a scalar argument. */
const withScalar =
  (op: string, argIndex = 1): Lower =>
  (k) => {
    const od = k.e.dtype(k.out[0]);
    return k.e.n1(op, [castTo(k.e, k.x(0), k.e.dtype(k.id(0)), od), k.e.scalar(k.c<number>(argIndex), od)]);
  };
const unary =
  (op: string): Lower =>
  (k) =>
    k.e.n1(op, [k.x(0)]);
const identity: Lower = (k) => k.e.n1('Identity', [k.x(0)]);

/** Slice along one axis with int (maybe size-dependent) start and end. */
function slice(e: Emitter, x: string, axis: number, start: Int, end: Int | null): string {
  const endName = end === null ? e.i64([INT64_MAX]) : e.int1(end);
  return e.n1('Slice', [x, e.int1(start), endName, e.i64([axis])]);
}

function addInts(e: Emitter, a: Int, b: Int): Int {
  if (!isSym(a) && !isSym(b)) return a + b;
  // a symbolic end: materialised by int1 of an affine expression when one side is static
  if (isSym(a) && !isSym(b)) return { sym: { affine: [a.sym, 1, b] }, at: a.at.map((x) => x + b) };
  if (!isSym(a) && isSym(b)) return { sym: { affine: [b.sym, 1, a] }, at: b.at.map((x) => x + a) };
  void e;
  throw new Error('ONNX export: narrow with both start and length size-dependent is not supported');
}

function complexMul(e: Emitter, a: string, b: string): string {
  const part = (x: string, i: number) => slice(e, x, -1, i, i + 1);
  const [ar, ai, br, bi] = [part(a, 0), part(a, 1), part(b, 0), part(b, 1)];
  const re = e.n1('Sub', [e.n1('Mul', [ar, br]), e.n1('Mul', [ai, bi])]);
  const im = e.n1('Add', [e.n1('Mul', [ar, bi]), e.n1('Mul', [ai, br])]);
  return e.n1('Concat', [re, im], [Emitter.int('axis', -1)]);
}

/** Static split sizes of an axis from the traced output shapes. */
function splitSizes(k: Ctx, axis: number): number[] {
  return k.out.map((o) => {
    const s = k.e.g.values[o].shape[axis];
    if (s === null) throw new Error(`ONNX export: ${k.n.op} splits an axis whose parts depend on the input sizes`);
    return s;
  });
}

function split(k: Ctx, axis: number): string[] {
  return k.e.node('Split', [k.x(0), k.e.i64(splitSizes(k, axis))], [Emitter.int('axis', axis)], k.out.length);
}

function layerNormLike(e: Emitter, x: string, axes: number[], eps: number): string {
  const ax = e.i64(axes);
  const mean = e.n1('ReduceMean', [x, ax], [Emitter.int('keepdims', 1)]);
  const xc = e.n1('Sub', [x, mean]);
  const v = e.n1('ReduceMean', [e.n1('Mul', [xc, xc]), ax], [Emitter.int('keepdims', 1)]);
  return e.n1('Div', [xc, e.n1('Sqrt', [e.n1('Add', [v, e.scalar(eps, 'float32')])])]);
}

function matmulLinear(k: Ctx): string {
  const e = k.e;
  const c = e.g.constants.get(k.id(1));
  // a constant weight is stored transposed, so the graph needs no Transpose per call
  const wT =
    c && c.dtype === 'float32' && c.shape.length === 2
      ? e.transposedWeight(k.id(1))
      : e.n1('Transpose', [k.x(1)], [Emitter.ints('perm', [1, 0])]);
  const y = e.n1('MatMul', [k.x(0), wT]);
  const b = k.n.args[2];
  return b && 'v' in b ? e.n1('Add', [y, k.x(2)]) : y;
}

/** ATen op → ONNX nodes. */
export const ATEN_TO_ONNX: Record<string, Lower> = {
  'aten::embedding': (k) => k.e.n1('Gather', [k.x(0), k.x(1)], [Emitter.int('axis', 0)]),
  'aten::linear': matmulLinear,
  'aten::matmul': (k) => k.e.n1('MatMul', [k.x(0), k.x(1)]),
  'aten::unsqueeze': (k) => k.e.n1('Unsqueeze', [k.x(0), k.e.i64([normDim(k.c<number>(1), k.e.torchRank(k.id(0)) + 1)])]),
  'aten::squeeze.dim': (k) => {
    const d = normDim(k.c<number>(1), k.e.torchRank(k.id(0)));
    return k.e.g.values[k.id(0)].shape[d] === 1 ? k.e.n1('Squeeze', [k.x(0), k.e.i64([d])]) : identity(k);
  },
  'aten::narrow': (k) => {
    const d = normDim(k.c<number>(1), k.e.torchRank(k.id(0)));
    return slice(k.e, k.x(0), d, k.c<Int>(2), addInts(k.e, k.c<Int>(2), k.c<Int>(3)));
  },
  'aten::slice.Tensor': (k) => {
    const d = normDim(k.c<number>(1) ?? 0, k.e.torchRank(k.id(0)));
    if ((k.c<number>(4) ?? 1) !== 1) throw new Error('ONNX export: slice with a step is not supported');
    return slice(k.e, k.x(0), d, k.c<Int>(2) ?? 0, k.c<Int | null>(3) ?? null);
  },
  'aten::view': (k) => k.e.n1('Reshape', [k.x(0), k.e.intList(asList(k.c(1)))]),
  'aten::reshape': (k) => k.e.n1('Reshape', [k.x(0), k.e.intList(asList(k.c(1)))]),
  'aten::expand': (k) => {
    const sizes = asList(k.c(1)).map((s) => (s === -1 ? 1 : s)); // ONNX Expand broadcasts: 1 keeps the dim
    return k.e.n1('Expand', [k.x(0), k.e.intList(sizes)]);
  },
  'aten::permute': (k) =>
    k.e.n1(
      'Transpose',
      [k.x(0)],
      [
        Emitter.ints(
          'perm',
          asList(k.c(1)).map((d) => staticInt(d, 'perm')),
        ),
      ],
    ),
  'aten::transpose.int': (k) => {
    const r = k.e.rank(k.id(0));
    const perm = Array.from({ length: r }, (_, i) => i);
    const tr = k.e.torchRank(k.id(0));
    const [a, b] = [normDim(k.c<number>(1), tr), normDim(k.c<number>(2), tr)];
    [perm[a], perm[b]] = [perm[b], perm[a]];
    return k.e.n1('Transpose', [k.x(0)], [Emitter.ints('perm', perm)]);
  },
  'aten::contiguous': identity,
  'aten::clone': identity,
  'aten::detach': identity,
  'aten::view_as_complex': (k) => k.e.n1('Identity', [k.x(0)]), // [..., 2] float is our complex
  'aten::view_as_real': identity,
  'aten::split_with_sizes': (k) => split(k, normDim(k.c<number>(2) ?? 0, k.e.torchRank(k.id(0)))),
  'aten::split.Tensor': (k) => split(k, normDim(k.c<number>(2) ?? 0, k.e.torchRank(k.id(0)))),
  'aten::chunk': (k) => split(k, normDim(k.c<number>(2) ?? 0, k.e.torchRank(k.id(0)))),
  'aten::unbind.int': (k) => {
    const d = normDim(k.c<number>(1) ?? 0, k.e.torchRank(k.id(0)));
    const parts = k.e.node('Split', [k.x(0), k.e.i64(k.out.map(() => 1))], [Emitter.int('axis', d)], k.out.length);
    return parts.map((p) => k.e.n1('Squeeze', [p, k.e.i64([d])]));
  },
  'aten::cat': (k) => {
    const ids = (k.n.args[0] as { vs: number[] }).vs;
    const od = k.e.dtype(k.out[0]);
    const d = normDim(k.c<number>(1) ?? 0, k.e.torchRank(k.out[0]));
    return k.e.n1(
      'Concat',
      ids.map((id) => castTo(k.e, k.e.name(id), k.e.dtype(id), od)),
      [Emitter.int('axis', d)],
    );
  },
  'aten::mul.Tensor': (k) => {
    if (k.e.dtype(k.id(0)) === 'complex64' || k.e.dtype(k.id(1)) === 'complex64') return complexMul(k.e, k.x(0), k.x(1));
    return binary('Mul')(k);
  },
  'aten::add.Tensor': (k) => {
    const alpha = k.c<number>(2) ?? 1;
    if (alpha === 1) return binary('Add')(k);
    const od = k.e.dtype(k.out[0]);
    const b = k.e.n1('Mul', [castTo(k.e, k.x(1), k.e.dtype(k.id(1)), od), k.e.scalar(alpha, od)]);
    return k.e.n1('Add', [castTo(k.e, k.x(0), k.e.dtype(k.id(0)), od), b]);
  },
  'aten::sub.Tensor': (k) => {
    const alpha = k.c<number>(2) ?? 1;
    if (alpha === 1) return binary('Sub')(k);
    const od = k.e.dtype(k.out[0]);
    const b = k.e.n1('Mul', [castTo(k.e, k.x(1), k.e.dtype(k.id(1)), od), k.e.scalar(alpha, od)]);
    return k.e.n1('Sub', [castTo(k.e, k.x(0), k.e.dtype(k.id(0)), od), b]);
  },
  'aten::div.Tensor': binary('Div'),
  'aten::add.Scalar': (k) => {
    const od = k.e.dtype(k.out[0]);
    return k.e.n1('Add', [castTo(k.e, k.x(0), k.e.dtype(k.id(0)), od), k.e.scalar(k.c<number>(1) * (k.c<number>(2) ?? 1), od)]);
  },
  'aten::sub.Scalar': (k) => {
    const od = k.e.dtype(k.out[0]);
    return k.e.n1('Sub', [castTo(k.e, k.x(0), k.e.dtype(k.id(0)), od), k.e.scalar(k.c<number>(1) * (k.c<number>(2) ?? 1), od)]);
  },
  'aten::mul.Scalar': withScalar('Mul'),
  'aten::div.Scalar': withScalar('Div'),
  'aten::eq.Scalar': (k) => k.e.n1('Equal', [k.x(0), k.e.scalar(k.c<number>(1), k.e.dtype(k.id(0)))]),
  'aten::silu': (k) => k.e.n1('Mul', [k.x(0), k.e.n1('Sigmoid', [k.x(0)])]),
  'aten::sigmoid': unary('Sigmoid'),
  'aten::cos': unary('Cos'),
  'aten::sin': unary('Sin'),
  'aten::exp': unary('Exp'),
  'aten::tanh': unary('Tanh'),
  'aten::neg': unary('Neg'),
  'aten::gelu': (k) => {
    const e = k.e;
    const x = k.x(0);
    if ((k.c<string>(1) ?? 'none') === 'tanh') {
      const inner = e.n1('Mul', [
        e.n1('Add', [x, e.n1('Mul', [e.n1('Pow', [x, e.scalar(3, 'float32')]), e.scalar(0.044715, 'float32')])]),
        e.scalar(Math.sqrt(2 / Math.PI), 'float32'),
      ]);
      return e.n1('Mul', [
        e.n1('Mul', [x, e.scalar(0.5, 'float32')]),
        e.n1('Add', [e.n1('Tanh', [inner]), e.scalar(1, 'float32')]),
      ]);
    }
    const erf = e.n1('Erf', [e.n1('Mul', [x, e.scalar(Math.SQRT1_2, 'float32')])]);
    return e.n1('Mul', [e.n1('Mul', [x, e.scalar(0.5, 'float32')]), e.n1('Add', [erf, e.scalar(1, 'float32')])]);
  },
  'aten::layer_norm': (k) => {
    const shape = asList(k.c(1));
    const axes = shape.map((_, i) => -shape.length + i);
    let y = layerNormLike(k.e, k.x(0), axes, k.c<number>(4) ?? 1e-5);
    if (k.n.args[2] && 'v' in k.n.args[2]) y = k.e.n1('Mul', [y, k.x(2)]);
    if (k.n.args[3] && 'v' in k.n.args[3]) y = k.e.n1('Add', [y, k.x(3)]);
    return y;
  },
  'aten::rms_norm': (k) => {
    const e = k.e;
    const shape = asList(k.c(1));
    const axes = e.i64(shape.map((_, i) => -shape.length + i));
    const x = k.x(0);
    const ms = e.n1('ReduceMean', [e.n1('Mul', [x, x]), axes], [Emitter.int('keepdims', 1)]);
    let y = e.n1('Div', [x, e.n1('Sqrt', [e.n1('Add', [ms, e.scalar(k.c<number>(3) ?? 1e-6, 'float32')])])]);
    if (k.n.args[2] && 'v' in k.n.args[2]) y = e.n1('Mul', [y, k.x(2)]);
    return y;
  },
  'aten::group_norm': (k) => {
    const e = k.e;
    const G = k.c<number>(1);
    const x = k.x(0);
    const C = e.g.values[k.id(0)].shape[1];
    if (C === null) throw new Error('ONNX export: group_norm over a size-dependent channel count');
    const grouped = e.n1('Reshape', [x, e.i64([0, G, -1])]);
    const normed = layerNormLike(e, grouped, [2], k.c<number>(4) ?? 1e-5);
    let y = e.n1('Reshape', [normed, e.shapeOf(k.id(0))]);
    const chan = (i: number) => e.n1('Reshape', [k.x(i), e.i64([C, 1, 1])]);
    if (k.n.args[2] && 'v' in k.n.args[2]) y = e.n1('Mul', [y, chan(2)]);
    if (k.n.args[3] && 'v' in k.n.args[3]) y = e.n1('Add', [y, chan(3)]);
    return y;
  },
  'aten::scaled_dot_product_attention': (k) => {
    const e = k.e;
    const dh = e.g.values[k.id(0)].shape.at(-1) as number;
    const scale = k.c<number | null>(6) ?? 1 / Math.sqrt(dh);
    const kT = e.n1('Transpose', [k.x(1)], [Emitter.ints('perm', [0, 1, 3, 2])]);
    let s = e.n1('Mul', [e.n1('MatMul', [k.x(0), kT]), e.scalar(scale, 'float32')]);
    const ninf = () => e.scalar(Number.NEGATIVE_INFINITY, 'float32');
    const mask = k.n.args[3];
    if (mask && 'v' in mask) {
      if (e.dtype(mask.v) === 'bool') s = e.n1('Where', [k.x(3), s, ninf()]);
      else s = e.n1('Add', [s, k.x(3)]);
    }
    if (k.c<boolean>(5)) {
      // top-left causal mask over [Lq, Lk] (torch's is_causal)
      const qk = e.n1('Slice', [e.n1('Shape', [s]), e.i64([-2]), e.i64([INT64_MAX])]);
      const ones = e.n1(
        'ConstantOfShape',
        [qk],
        [
          {
            name: 'value',
            type: ATTR.TENSOR,
            t: { name: 'v', dims: [1], data_type: ONNX_DTYPE.bool, raw_data: new Uint8Array([1]) },
          },
        ],
      );
      const tri = e.n1('Trilu', [e.n1('Cast', [ones], [Emitter.int('to', ONNX_DTYPE.int64)])], [Emitter.int('upper', 0)]);
      s = e.n1('Where', [e.n1('Cast', [tri], [Emitter.int('to', ONNX_DTYPE.bool)]), s, ninf()]);
    }
    return e.n1('MatMul', [e.n1('Softmax', [s], [Emitter.int('axis', -1)]), k.x(2)]);
  },
  'aten::ones': (k) => constantOfShape(k, 1),
  'aten::zeros': (k) => constantOfShape(k, 0),
  'aten::to.dtype': (k) => castTo(k.e, k.x(0), k.e.dtype(k.id(0)), k.e.dtype(k.out[0])),
  'aten::clamp': (k) => {
    const e = k.e;
    const d = e.dtype(k.out[0]);
    const lo = k.c<number | null>(1);
    const hi = k.c<number | null>(2);
    return e.n1('Clip', [
      k.x(0),
      lo === null || lo === undefined ? '' : e.scalar(lo, d),
      hi === null || hi === undefined ? '' : e.scalar(hi, d),
    ]);
  },
  'aten::linalg_vector_norm': (k) => {
    if ((k.c<number>(1) ?? 2) !== 2) throw new Error('ONNX export: only the 2-norm is supported');
    const dims = k.c<number[] | null>(2);
    const attrs = [Emitter.int('keepdims', k.c<boolean>(3) ? 1 : 0)];
    return dims ? k.e.n1('ReduceL2', [k.x(0), k.e.i64(dims)], attrs) : k.e.n1('ReduceL2', [k.x(0)], attrs);
  },
  'aten::conv2d': (k) => {
    const pair = (v: unknown) => {
      const l = asList(v).map((x) => staticInt(x, 'conv2d arguments'));
      return l.length === 1 ? [l[0], l[0]] : l;
    };
    const [ph, pw] = pair(k.c(4) ?? 0);
    const inputs = [k.x(0), k.x(1)];
    if (k.n.args[2] && 'v' in k.n.args[2]) inputs.push(k.x(2));
    return k.e.n1('Conv', inputs, [
      Emitter.ints('strides', pair(k.c(3) ?? 1)),
      Emitter.ints('pads', [ph, pw, ph, pw]),
      Emitter.ints('dilations', pair(k.c(5) ?? 1)),
      Emitter.int('group', k.c<number>(6) ?? 1),
    ]);
  },
  'aten::upsample_nearest2d': (k) => {
    const ins = k.e.g.values[k.id(0)].shapes[0];
    const outs = k.e.g.values[k.out[0]].shapes[0];
    const scales = [1, 1, outs[2] / ins[2], outs[3] / ins[3]];
    return k.e.n1(
      'Resize',
      [k.x(0), '', k.e.tensor('sc', ONNX_DTYPE.float32, [4], new Uint8Array(new Float32Array(scales).buffer))],
      [
        Emitter.str('mode', 'nearest'),
        Emitter.str('coordinate_transformation_mode', 'asymmetric'),
        Emitter.str('nearest_mode', 'floor'),
      ],
    );
  },
  'aten::index.Tensor': (k) => {
    const idx = (k.n.args[1] as { vs: (number | null)[] }).vs;
    if (idx.length !== 1 || idx[0] === null)
      throw new Error('ONNX export: index with more than one index tensor is not supported');
    const i = idx[0];
    if (k.e.dtype(i) === 'bool') {
      // boolean mask over the leading dims: the selected rows, in row-major order
      const nz = k.e.n1('Transpose', [k.e.n1('NonZero', [k.e.name(i)])], [Emitter.ints('perm', [1, 0])]);
      return k.e.n1('GatherND', [k.x(0), nz]);
    }
    return k.e.n1('Gather', [k.x(0), k.e.name(i)], [Emitter.int('axis', 0)]);
  },
  'aten::index_put': (k) => {
    const idx = (k.n.args[1] as { vs: (number | null)[] }).vs;
    if (idx.length !== 1 || idx[0] === null || k.e.dtype(idx[0]) !== 'bool' || k.c<boolean>(3)) {
      throw new Error('ONNX export: index_put is supported with one boolean mask, without accumulate');
    }
    const nz = k.e.n1('Transpose', [k.e.n1('NonZero', [k.e.name(idx[0])])], [Emitter.ints('perm', [1, 0])]);
    return k.e.n1('ScatterND', [k.x(0), nz, castTo(k.e, k.x(2), k.e.dtype(k.id(2)), k.e.dtype(k.out[0]))]);
  },
  'aten::copy_': (k) => {
    const e = k.e;
    const src = castTo(e, k.x(1), e.dtype(k.id(1)), e.dtype(k.out[0]));
    return e.n1('Expand', [src, e.shapeOf(k.id(0))]);
  },
  'd2c::slice_update': (k) => {
    // base with the region a narrow/slice view covered replaced by the view's new value
    const e = k.e;
    const view = k.c<string>(1);
    const rank = e.torchRank(k.id(0));
    const d = normDim(k.c<number>(2) ?? 0, rank);
    let start: Int;
    let end: Int | null;
    if (view === 'aten::narrow') {
      start = k.c<Int>(3);
      end = addInts(e, start, k.c<Int>(4));
    } else {
      start = k.c<Int>(3) ?? 0;
      end = k.c<Int | null>(4) ?? null;
    }
    const src = k.x(k.n.args.length - 1);
    const parts = [slice(e, k.x(0), d, 0, start), src];
    if (end !== null) parts.push(slice(e, k.x(0), d, end, null));
    return e.n1('Concat', parts, [Emitter.int('axis', d)]);
  },
};

function constantOfShape(k: Ctx, v: number): string {
  const d = k.e.dtype(k.out[0]);
  const value = {
    name: 'value',
    type: ATTR.TENSOR,
    t: { name: 'v', dims: [1], data_type: elemType(d), raw_data: scalarBytes(v, d) },
  };
  return k.e.n1('ConstantOfShape', [k.e.intList(asList(k.c(0)))], [value]);
}

/** The nodes an output depends on (the trace also holds input checks and other dead ops). */
function liveNodes(g: Graph): GNode[] {
  const need = new Set(g.outputs.map((o) => o.id));
  const keep: GNode[] = [];
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i];
    if (!n.outs.some((o) => need.has(o))) continue;
    keep.push(n);
    for (const a of n.args) {
      if ('v' in a) {
        need.add(a.v);
      } else if ('vs' in a) {
        for (const v of a.vs) if (v !== null) need.add(v);
      } else {
        collectSymValues(a.c, need);
      }
    }
  }
  return keep.reverse();
}

function collectSymValues(c: unknown, into: Set<number>): void {
  const walk = (e: SymExpr) => {
    if ('dim' in e) into.add(e.dim[0]);
    else if ('affine' in e) walk(e.affine[0]);
    else e.mul.forEach(walk);
  };
  if (isSym(c)) walk(c.sym);
  else if (Array.isArray(c)) for (const x of c) collectSymValues(x, into);
}

/** The ONNX model of a merged graph. */
export function emitOnnx(g: Graph, name: string, doc: string, o: EmitOptions): OnnxModel {
  const e = new Emitter(g, o);
  for (const i of g.inputs) e.bind(i.id, i.name);
  for (const n of liveNodes(g)) {
    const lower = ATEN_TO_ONNX[n.op];
    if (!lower) throw new Error(`ONNX export (${name}): no ONNX mapping for ${n.op}`);
    const ctx: Ctx = {
      e,
      n,
      out: n.outs,
      id: (i) => {
        const a = n.args[i];
        if (!a || !('v' in a)) throw new Error(`ONNX export: ${n.op} argument ${i} is not a tensor`);
        return a.v;
      },
      x: (i) => e.name(ctx.id(i)),
      c: <T>(i: number) => {
        const a = n.args[i];
        return (a && 'c' in a ? a.c : undefined) as T;
      },
    };
    const res = lower(ctx);
    const outs = Array.isArray(res) ? res : [res];
    if (outs.length !== n.outs.length)
      throw new Error(`ONNX export: ${n.op} gave ${outs.length} outputs, expected ${n.outs.length}`);
    n.outs.forEach((id, i) => {
      e.bind(id, outs[i]);
    });
  }
  // graph outputs get their names through Identity nodes
  for (const out of g.outputs) e.node('Identity', [e.name(out.id)], [], 1, [out.name]);
  const info = (nm: string, id: number, dims: (string | null)[] | undefined) => {
    const v = g.values[id];
    const shape: (number | string)[] = v.shape.map((d, i) => (d === null ? (dims?.[i] ?? `${nm}_${i}`) : (dims?.[i] ?? d)));
    if (v.dtype === 'complex64') shape.push(2);
    return { name: nm, elemType: elemType(v.dtype), dims: shape };
  };
  return {
    name,
    doc,
    opset: OPSET,
    nodes: e.nodes,
    initializers: e.initializers,
    inputs: g.inputs.map((i) => info(i.name, i.id, o.dims[i.name])),
    outputs: g.outputs.map((out) => info(out.name, out.id, undefined)),
  };
}
