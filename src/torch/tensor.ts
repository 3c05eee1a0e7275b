// The Tensor class: a native libtorch tensor behind a handle, with PyTorch's names and semantics.
import { type DType, dtypeCode, dtypeName, isDType } from './dtype.ts';
import { type Scope, type Scoped, track } from './memory.ts';
import { type Handle, native } from './native.ts';
import { op } from './ops.ts';

export type Device = string;
export type Scalar = number | boolean;
export type TensorOrScalar = Tensor | number;

const N = native;
const ID = {
  addT: op('aten::add.Tensor'),
  addS: op('aten::add.Scalar'),
  subT: op('aten::sub.Tensor'),
  subS: op('aten::sub.Scalar'),
  mulT: op('aten::mul.Tensor'),
  mulS: op('aten::mul.Scalar'),
  divT: op('aten::div.Tensor'),
  divS: op('aten::div.Scalar'),
  powS: op('aten::pow.Tensor_Scalar'),
  powT: op('aten::pow.Tensor_Tensor'),
  matmul: op('aten::matmul'),
  view: op('aten::view'),
  reshape: op('aten::reshape'),
  permute: op('aten::permute'),
  transpose: op('aten::transpose.int'),
  unsqueeze: op('aten::unsqueeze'),
  squeezeDim: op('aten::squeeze.dim'),
  squeeze: op('aten::squeeze'),
  expand: op('aten::expand'),
  contiguous: op('aten::contiguous'),
  sumAll: op('aten::sum'),
  sumDim: op('aten::sum.dim_IntList'),
  meanAll: op('aten::mean'),
  meanDim: op('aten::mean.dim'),
  toDtype: op('aten::to.dtype'),
  toDevice: op('aten::to.device'),
  clone: op('aten::clone'),
  detach: op('aten::detach'),
  add_: op('aten::add_.Tensor'),
  addS_: op('aten::add_.Scalar'),
  mul_: op('aten::mul_.Tensor'),
  mulS_: op('aten::mul_.Scalar'),
  sub_: op('aten::sub_.Tensor'),
  div_: op('aten::div_.Tensor'),
  divS_: op('aten::div_.Scalar'),
  copy_: op('aten::copy_'),
  zero_: op('aten::zero_'),
  fill_: op('aten::fill_.Scalar'),
  slice: op('aten::slice.Tensor'),
  select: op('aten::select.int'),
};

/** Converts an argument for a generic op call: tensors become handles. */
export function toArg(a: unknown): unknown {
  if (a instanceof Tensor) return a.h;
  if (typeof a === 'object' && a !== null && 'generatorHandle' in a) return (a as { generatorHandle: Handle }).generatorHandle;
  if (Array.isArray(a) && a.length > 0 && (a[0] instanceof Tensor || a[0] === null || a.some((x) => x instanceof Tensor))) {
    return a.map((x) => (x instanceof Tensor ? x.h : x));
  }
  return a;
}

const returnKinds: string[] = [];

function wrapKind(r: unknown, kind: string): unknown {
  if (r === null || r === undefined || kind === 'o') return r;
  if (kind === 'l') return (r as number[]).map((h) => new Tensor(h));
  return new Tensor(r as number);
}

/** Wraps a native result by the op's return kinds: tensor ids become Tensors. */
export function fromResult(id: number, r: unknown): unknown {
  let kinds = returnKinds[id];
  if (kinds === undefined) {
    kinds = N.returnKinds(id);
    returnKinds[id] = kinds;
  }
  if (kinds.length === 1) return wrapKind(r, kinds);
  if (kinds.length === 0) return undefined;
  return (r as unknown[]).map((x, i) => wrapKind(x, kinds[i]));
}

/** Calls any ATen operator by qualified name; tensors in and out are converted. */
export function callOp<T = Tensor>(qualified: string, ...args: unknown[]): T {
  const id = op(qualified);
  return fromResult(id, N.call(id, ...args.map(toArg))) as T;
}

/** Calls an in-place or void operator by qualified name, discarding its result. */
export function callOpVoid(qualified: string, ...args: unknown[]): void {
  N.callVoid(op(qualified), ...args.map(toArg));
}

const w = (h: unknown) => new Tensor(h as Handle);

// The safety net: a tensor outside every scope is freed when its JS object is collected.
// Scoped tensors are not registered (their scope frees them), which keeps creation cheap.
const registry = new FinalizationRegistry<Handle>((h) => N.free(h));

// Registration is deferred to the next turn of the event loop: most unscoped tensors are disposed
// before then (`x.add(1).dispose()`), and skipping their register/unregister halves the per-op
// cost. Nothing is lost: the registry's callbacks only ever run between turns anyway.
let pendingWatch: Tensor[] = [];
let flushScheduled = false;
function flushPendingWatch(): void {
  flushScheduled = false;
  const list = pendingWatch;
  pendingWatch = [];
  for (const t of list) t._register();
}

export class Tensor implements Scoped {
  private _h: Handle | null;
  _scope: Scope | null = null;
  /** 0: not watched; 1: waiting for registration; 2: registered with the GC safety net. */
  private _watch: 0 | 1 | 2 = 0;

  constructor(h: Handle) {
    this._h = h;
    if (!track(this)) this._unscoped();
  }

  _unscoped(): void {
    if (this._watch === 0 && this._h !== null) {
      this._watch = 1;
      pendingWatch.push(this);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flushPendingWatch).unref();
      }
    }
  }

  _register(): void {
    if (this._watch === 1 && this._h !== null) {
      registry.register(this, this._h, this);
      N.watch(this._h); // its bytes now count towards V8's GC pressure; scoped tensors' never do
      this._watch = 2;
    }
  }

  private _unwatch(): void {
    if (this._watch === 2) registry.unregister(this);
    // `x.add(1).dispose()`: the newest waiting tensor is disposed at once; drop it from the list
    // now, so a long synchronous loop does not hold every one of them until the next turn.
    else if (this._watch === 1 && pendingWatch[pendingWatch.length - 1] === this) pendingWatch.pop();
    this._watch = 0;
  }

  /** The native handle; throws once disposed. */
  get h(): Handle {
    if (this._h === null) throw new Error('tensor used after dispose');
    return this._h;
  }

  get isDisposed(): boolean {
    return this._h === null;
  }

  dispose(): void {
    if (this._h !== null) {
      N.free(this._h);
      this._h = null;
      this._unwatch();
    }
  }

  /**
   * Moves `other`'s native tensor into this JS object (disposing the old one and `other`),
   * keeping identity: how Module.to() converts parameters that optimizers already reference.
   */
  _replaceWith(other: Tensor): void {
    const h = other.h;
    other._unwatch();
    other._h = null;
    if (this._h !== null) N.free(this._h);
    this._unwatch();
    this._h = h;
    if (this._scope === null) this._unscoped();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  // ---- metadata ------------------------------------------------------------------------
  get shape(): number[] {
    return N.shape(this.h);
  }
  size(dim?: number): number {
    const s = this.shape;
    if (dim === undefined) return s.reduce((a, b) => a * b, 1);
    const d = dim < 0 ? dim + s.length : dim;
    if (d < 0 || d >= s.length) throw new Error(`size: dim ${dim} out of range for a ${s.length}-d tensor`);
    return s[d];
  }
  get ndim(): number {
    return N.meta(this.h)[4];
  }
  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
  get dtype(): DType {
    return dtypeName(N.dtype(this.h));
  }
  get device(): Device {
    return N.meta(this.h)[1];
  }
  get strides(): number[] {
    return N.strides(this.h);
  }
  isContiguous(): boolean {
    return N.isContiguous(this.h);
  }

  // ---- autograd ------------------------------------------------------------------------
  get requiresGrad(): boolean {
    return N.meta(this.h)[2];
  }
  set requiresGrad(on: boolean) {
    N.setRequiresGrad(this.h, on);
  }
  requiresGrad_(on = true): this {
    N.setRequiresGrad(this.h, on);
    return this;
  }
  get isLeaf(): boolean {
    return N.meta(this.h)[3];
  }
  /** The accumulated gradient (a new handle on it each call), or null. */
  get grad(): Tensor | null {
    const g = N.grad(this.h);
    return g === null ? null : new Tensor(g);
  }
  set grad(g: Tensor | null) {
    N.setGrad(this.h, g === null ? null : g.h);
  }
  get gradFn(): string | null {
    return N.gradFnName(this.h);
  }
  retainGrad(): this {
    N.retainGrad(this.h);
    return this;
  }
  backward(gradient?: Tensor, opts: { retainGraph?: boolean; createGraph?: boolean } = {}): void {
    N.backward([this.h], gradient ? [gradient.h] : null, opts.retainGraph ?? null, opts.createGraph ?? false);
  }

  // ---- data ----------------------------------------------------------------------------
  item(): number {
    return Number(N.item(this.h));
  }
  /** Raw element bytes as a typed array of the tensor's dtype (float16/bfloat16 as Uint16Array). */
  toTypedArray(): Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Int8Array | Int16Array | Uint16Array {
    const buf = N.toBuffer(this.h);
    switch (this.dtype) {
      case 'float32':
      case 'complex64': // interleaved (real, imaginary)
        return new Float32Array(buf);
      case 'float64':
        return new Float64Array(buf);
      case 'int32':
        return new Int32Array(buf);
      case 'int64':
        return new BigInt64Array(buf);
      case 'int16':
        return new Int16Array(buf);
      case 'int8':
        return new Int8Array(buf);
      case 'float16':
      case 'bfloat16':
        return new Uint16Array(buf);
      default:
        return new Uint8Array(buf);
    }
  }
  /** The elements, flattened, as JS numbers (any dtype). */
  toArray(): number[] {
    const d = this.dtype;
    if (d === 'float16' || d === 'bfloat16') {
      const f = this.to('float32');
      const out = Array.from(f.toTypedArray() as Float32Array);
      f.dispose();
      return out;
    }
    const a = this.toTypedArray();
    return a instanceof BigInt64Array ? Array.from(a, Number) : Array.from(a as ArrayLike<number>);
  }
  toFloat32Array(): Float32Array {
    if (this.dtype === 'float32') return this.toTypedArray() as Float32Array;
    const f = this.to('float32');
    const out = f.toTypedArray() as Float32Array;
    f.dispose();
    return out;
  }
  toString(): string {
    if (this.isDisposed) return 'Tensor(disposed)';
    return `Tensor(shape=[${this.shape}], dtype=${this.dtype}, device=${this.device})`;
  }

  // ---- conversion ----------------------------------------------------------------------
  to(target: DType | Device, opts: { dtype?: DType; copy?: boolean } = {}): Tensor {
    if (isDType(target)) return w(N.call(ID.toDtype, this.h, dtypeCode(target), false, opts.copy ?? false));
    if (!/^(cpu|cuda|meta|mps|xpu)(:\d+)?$/.test(target)) {
      throw new Error(
        `to: '${target}' is neither a dtype (float32, float16, bfloat16, float64, int64, int32, int16, int8, uint8, bool) nor a device (cpu, cuda, cuda:N, meta)`,
      );
    }
    const dtype = dtypeCode(opts.dtype ?? this.dtype);
    return w(N.call(ID.toDevice, this.h, target, dtype, false, opts.copy ?? false));
  }
  float(): Tensor {
    return this.to('float32');
  }
  double(): Tensor {
    return this.to('float64');
  }
  long(): Tensor {
    return this.to('int64');
  }
  cpu(): Tensor {
    return this.to('cpu');
  }
  clone(): Tensor {
    return w(N.call(ID.clone, this.h));
  }
  detach(): Tensor {
    return w(N.call(ID.detach, this.h));
  }
  contiguous(): Tensor {
    return w(N.call(ID.contiguous, this.h));
  }

  // ---- arithmetic ----------------------------------------------------------------------
  add(o: TensorOrScalar, alpha?: number): Tensor {
    return typeof o === 'number' ? w(N.call(ID.addS, this.h, o, alpha)) : w(N.call(ID.addT, this.h, o.h, alpha));
  }
  sub(o: TensorOrScalar, alpha?: number): Tensor {
    return typeof o === 'number' ? w(N.call(ID.subS, this.h, o, alpha)) : w(N.call(ID.subT, this.h, o.h, alpha));
  }
  mul(o: TensorOrScalar): Tensor {
    return typeof o === 'number' ? w(N.call(ID.mulS, this.h, o)) : w(N.call(ID.mulT, this.h, o.h));
  }
  div(o: TensorOrScalar): Tensor {
    return typeof o === 'number' ? w(N.call(ID.divS, this.h, o)) : w(N.call(ID.divT, this.h, o.h));
  }
  pow(o: TensorOrScalar): Tensor {
    return typeof o === 'number' ? w(N.call(ID.powS, this.h, o)) : w(N.call(ID.powT, this.h, o.h));
  }
  /** `o - this` */
  rsub(o: number): Tensor {
    return callOp('aten::rsub.Scalar', this, o);
  }
  matmul(o: Tensor): Tensor {
    return w(N.call(ID.matmul, this.h, o.h));
  }
  neg(): Tensor {
    return callOp('aten::neg', this);
  }
  exp(): Tensor {
    return callOp('aten::exp', this);
  }
  log(): Tensor {
    return callOp('aten::log', this);
  }
  sqrt(): Tensor {
    return callOp('aten::sqrt', this);
  }
  rsqrt(): Tensor {
    return callOp('aten::rsqrt', this);
  }
  abs(): Tensor {
    return callOp('aten::abs', this);
  }
  square(): Tensor {
    return callOp('aten::square', this);
  }
  sin(): Tensor {
    return callOp('aten::sin', this);
  }
  cos(): Tensor {
    return callOp('aten::cos', this);
  }
  tanh(): Tensor {
    return callOp('aten::tanh', this);
  }
  sigmoid(): Tensor {
    return callOp('aten::sigmoid', this);
  }
  relu(): Tensor {
    return callOp('aten::relu', this);
  }
  floor(): Tensor {
    return callOp('aten::floor', this);
  }
  round(): Tensor {
    return callOp('aten::round', this);
  }
  sign(): Tensor {
    return callOp('aten::sign', this);
  }
  reciprocal(): Tensor {
    return callOp('aten::reciprocal', this);
  }
  /** Python-style modulo (the sign of the divisor). */
  remainder(o: TensorOrScalar): Tensor {
    return callOp(typeof o === 'number' ? 'aten::remainder.Scalar' : 'aten::remainder.Tensor', this, o);
  }
  /** Lower triangle (elements above the `diagonal`-th diagonal zeroed). */
  tril(diagonal = 0): Tensor {
    return callOp('aten::tril', this, diagonal);
  }
  triu(diagonal = 0): Tensor {
    return callOp('aten::triu', this, diagonal);
  }
  clamp(min?: number | null, max?: number | null): Tensor {
    return callOp('aten::clamp', this, min ?? null, max ?? null);
  }
  maximum(o: Tensor): Tensor {
    return callOp('aten::maximum', this, o);
  }
  minimum(o: Tensor): Tensor {
    return callOp('aten::minimum', this, o);
  }

  // ---- comparison / logic --------------------------------------------------------------
  eq(o: TensorOrScalar): Tensor {
    return callOp(typeof o === 'number' ? 'aten::eq.Scalar' : 'aten::eq.Tensor', this, o);
  }
  ne(o: TensorOrScalar): Tensor {
    return callOp(typeof o === 'number' ? 'aten::ne.Scalar' : 'aten::ne.Tensor', this, o);
  }
  lt(o: TensorOrScalar): Tensor {
    return callOp(typeof o === 'number' ? 'aten::lt.Scalar' : 'aten::lt.Tensor', this, o);
  }
  le(o: TensorOrScalar): Tensor {
    return callOp(typeof o === 'number' ? 'aten::le.Scalar' : 'aten::le.Tensor', this, o);
  }
  gt(o: TensorOrScalar): Tensor {
    return callOp(typeof o === 'number' ? 'aten::gt.Scalar' : 'aten::gt.Tensor', this, o);
  }
  ge(o: TensorOrScalar): Tensor {
    return callOp(typeof o === 'number' ? 'aten::ge.Scalar' : 'aten::ge.Tensor', this, o);
  }
  logicalNot(): Tensor {
    return callOp('aten::logical_not', this);
  }
  logicalAnd(o: Tensor): Tensor {
    return callOp('aten::logical_and', this, o);
  }
  logicalOr(o: Tensor): Tensor {
    return callOp('aten::logical_or', this, o);
  }
  logicalXor(o: Tensor): Tensor {
    return callOp('aten::logical_xor', this, o);
  }
  /** True where any element is (along `dim`, or over everything). */
  any(dim?: number, keepdim = false): Tensor {
    return dim === undefined ? callOp('aten::any', this) : callOp('aten::any.dim', this, dim, keepdim);
  }
  all(dim?: number, keepdim = false): Tensor {
    return dim === undefined ? callOp('aten::all', this) : callOp('aten::all.dim', this, dim, keepdim);
  }
  isfinite(): Tensor {
    return callOp('aten::isfinite', this);
  }
  maskedFill(mask: Tensor, value: TensorOrScalar): Tensor {
    return callOp(typeof value === 'number' ? 'aten::masked_fill.Scalar' : 'aten::masked_fill.Tensor', this, mask, value);
  }

  // ---- reductions ----------------------------------------------------------------------
  sum(dim?: number | number[], keepdim = false): Tensor {
    return dim === undefined ? w(N.call(ID.sumAll, this.h)) : w(N.call(ID.sumDim, this.h, dims(dim), keepdim));
  }
  mean(dim?: number | number[], keepdim = false): Tensor {
    return dim === undefined ? w(N.call(ID.meanAll, this.h)) : w(N.call(ID.meanDim, this.h, dims(dim), keepdim));
  }
  /** Variance with Bessel's correction by default, like torch.var. */
  var(dim?: number | number[], opts: { correction?: number; keepdim?: boolean } = {}): Tensor {
    return callOp(
      'aten::var.correction',
      this,
      dim === undefined ? null : dims(dim),
      opts.correction ?? 1,
      opts.keepdim ?? false,
    );
  }
  std(dim?: number | number[], opts: { correction?: number; keepdim?: boolean } = {}): Tensor {
    return callOp(
      'aten::std.correction',
      this,
      dim === undefined ? null : dims(dim),
      opts.correction ?? 1,
      opts.keepdim ?? false,
    );
  }
  amax(dim: number | number[], keepdim = false): Tensor {
    return callOp('aten::amax', this, dims(dim), keepdim);
  }
  amin(dim: number | number[], keepdim = false): Tensor {
    return callOp('aten::amin', this, dims(dim), keepdim);
  }
  max(): Tensor {
    return callOp('aten::max', this);
  }
  min(): Tensor {
    return callOp('aten::min', this);
  }
  argmax(dim?: number, keepdim = false): Tensor {
    return callOp('aten::argmax', this, dim ?? null, keepdim);
  }
  argmin(dim?: number, keepdim = false): Tensor {
    return callOp('aten::argmin', this, dim ?? null, keepdim);
  }
  norm(p = 2, dim?: number | number[], keepdim = false): Tensor {
    return callOp('aten::linalg_vector_norm', this, p, dim === undefined ? null : dims(dim), keepdim);
  }
  cumsum(dim: number): Tensor {
    return callOp('aten::cumsum', this, dim);
  }
  softmax(dim: number): Tensor {
    return callOp('aten::softmax.int', this, dim);
  }
  logSoftmax(dim: number): Tensor {
    return callOp('aten::log_softmax.int', this, dim);
  }

  // ---- shape and views -----------------------------------------------------------------
  view(...shape: number[]): Tensor {
    return w(N.call(ID.view, this.h, shape));
  }
  reshape(...shape: number[]): Tensor {
    return w(N.call(ID.reshape, this.h, shape));
  }
  flatten(start = 0, end = -1): Tensor {
    return callOp('aten::flatten.using_ints', this, start, end);
  }
  permute(...order: number[]): Tensor {
    return w(N.call(ID.permute, this.h, order));
  }
  transpose(a: number, b: number): Tensor {
    return w(N.call(ID.transpose, this.h, a, b));
  }
  /** Transpose of a 2-d tensor. */
  t(): Tensor {
    return callOp('aten::t', this);
  }
  unsqueeze(dim: number): Tensor {
    return w(N.call(ID.unsqueeze, this.h, dim));
  }
  squeeze(dim?: number): Tensor {
    return dim === undefined ? w(N.call(ID.squeeze, this.h)) : w(N.call(ID.squeezeDim, this.h, dim));
  }
  expand(...shape: number[]): Tensor {
    return w(N.call(ID.expand, this.h, shape));
  }
  expandAs(o: Tensor): Tensor {
    return this.expand(...o.shape);
  }
  repeat(...times: number[]): Tensor {
    return callOp('aten::repeat', this, times);
  }
  repeatInterleave(repeats: number, dim: number): Tensor {
    return callOp('aten::repeat_interleave.self_int', this, repeats, dim);
  }
  flip(...dims: number[]): Tensor {
    return callOp('aten::flip', this, dims);
  }
  /** `this[.., start:end:step, ..]` along `dim`. */
  slice(dim: number, start: number | null, end: number | null, step = 1): Tensor {
    return w(N.call(ID.slice, this.h, dim, start, end, step));
  }
  narrow(dim: number, start: number, length: number): Tensor {
    return callOp('aten::narrow', this, dim, start, length);
  }
  /** `this[.., index, ..]` along `dim` (drops the dim). */
  select(dim: number, index: number): Tensor {
    return w(N.call(ID.select, this.h, dim, index));
  }
  chunk(chunks: number, dim = 0): Tensor[] {
    return callOp('aten::chunk', this, chunks, dim);
  }
  split(size: number | number[], dim = 0): Tensor[] {
    return typeof size === 'number'
      ? callOp('aten::split.Tensor', this, size, dim)
      : callOp('aten::split_with_sizes', this, size, dim);
  }
  unbind(dim = 0): Tensor[] {
    return callOp('aten::unbind.int', this, dim);
  }

  // ---- indexing ------------------------------------------------------------------------
  /** Advanced indexing `this[i0, i1, ...]` with tensors (null = full slice). */
  index(indices: (Tensor | null)[]): Tensor {
    return callOp('aten::index.Tensor', this, indices);
  }
  indexSelect(dim: number, index: Tensor): Tensor {
    return callOp('aten::index_select', this, dim, index);
  }
  gather(dim: number, index: Tensor): Tensor {
    return callOp('aten::gather', this, dim, index);
  }
  scatter(dim: number, index: Tensor, src: TensorOrScalar): Tensor {
    return callOp(typeof src === 'number' ? 'aten::scatter.value' : 'aten::scatter.src', this, dim, index, src);
  }
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor {
    return callOp('aten::scatter_add', this, dim, index, src);
  }
  topk(k: number, dim = -1, largest = true, sorted = true): [Tensor, Tensor] {
    return callOp('aten::topk', this, k, dim, largest, sorted);
  }
  sort(dim = -1, descending = false): [Tensor, Tensor] {
    return callOp('aten::sort', this, dim, descending);
  }
  argsort(dim = -1, descending = false): Tensor {
    return callOp('aten::argsort', this, dim, descending);
  }

  // ---- in place ------------------------------------------------------------------------
  add_(o: TensorOrScalar, alpha?: number): this {
    if (typeof o === 'number') N.callVoid(ID.addS_, this.h, o, alpha);
    else N.callVoid(ID.add_, this.h, o.h, alpha);
    return this;
  }
  sub_(o: Tensor, alpha?: number): this {
    N.callVoid(ID.sub_, this.h, o.h, alpha);
    return this;
  }
  mul_(o: TensorOrScalar): this {
    if (typeof o === 'number') N.callVoid(ID.mulS_, this.h, o);
    else N.callVoid(ID.mul_, this.h, o.h);
    return this;
  }
  div_(o: TensorOrScalar): this {
    if (typeof o === 'number') N.callVoid(ID.divS_, this.h, o);
    else N.callVoid(ID.div_, this.h, o.h);
    return this;
  }
  copy_(src: Tensor): this {
    N.callVoid(ID.copy_, this.h, src.h);
    return this;
  }
  zero_(): this {
    N.callVoid(ID.zero_, this.h);
    return this;
  }
  fill_(v: number): this {
    N.callVoid(ID.fill_, this.h, v);
    return this;
  }
  clamp_(min?: number | null, max?: number | null): this {
    callOpVoid('aten::clamp_', this, min ?? null, max ?? null);
    return this;
  }
  lerp_(end: Tensor, weight: number): this {
    callOpVoid('aten::lerp_.Scalar', this, end, weight);
    return this;
  }
  maskedFill_(mask: Tensor, value: number): this {
    callOpVoid('aten::masked_fill_.Scalar', this, mask, value);
    return this;
  }
}

function dims(d: number | number[]): number[] {
  return typeof d === 'number' ? [d] : d;
}
