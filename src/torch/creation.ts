// Tensor factories: from JS data, constants, ranges and random draws.
import { type DType, dtypeCode } from './dtype.ts';
import { native } from './native.ts';
import type { Generator } from './random.ts';
import { callOp, type Device, Tensor } from './tensor.ts';

export interface Opts {
  dtype?: DType;
  device?: Device;
  requiresGrad?: boolean;
}
export interface RandOpts extends Opts {
  generator?: Generator;
  /** The dimension that indexes samples: with a batch-sharded generator the draw covers the global batch. */
  batchDim?: number;
}

type Nested = number | boolean | Nested[];
type Typed = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Int8Array | Int16Array;

function finish(t: Tensor, o: Opts): Tensor {
  let out = t;
  if (o.device && o.device !== 'cpu') {
    out = t.to(o.device);
    t.dispose();
  }
  if (o.requiresGrad) out.requiresGrad = true;
  return out;
}

const dt = (o: Opts, fallback: DType = 'float32') => dtypeCode(o.dtype ?? fallback);
const dev = (o: Opts) => o.device ?? null;

function typedDtype(a: Typed): DType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof BigInt64Array) return 'int64';
  if (a instanceof Int8Array) return 'int8';
  if (a instanceof Int16Array) return 'int16';
  return 'uint8';
}

/** A tensor from nested arrays or a typed array (default dtype float32; typed arrays keep theirs). */
export function tensor(data: Nested | Typed, opts: Opts & { shape?: number[] } = {}): Tensor {
  if (ArrayBuffer.isView(data)) {
    const own = typedDtype(data as Typed);
    const shape = opts.shape ?? [(data as Typed).length];
    let t = new Tensor(native.fromBuffer(data, shape, dtypeCode(own)));
    if (opts.dtype && opts.dtype !== own) {
      const c = t.to(opts.dtype);
      t.dispose();
      t = c;
    }
    return finish(t, opts);
  }
  const shape: number[] = [];
  let probe: Nested = data;
  while (Array.isArray(probe)) {
    shape.push(probe.length);
    probe = probe[0];
  }
  const flat = (Array.isArray(data) ? (data as unknown[]).flat(Number.POSITIVE_INFINITY) : [data]) as (number | boolean)[];
  const n = shape.reduce((a, b) => a * b, 1);
  if (flat.length !== n)
    throw new Error(`tensor: ragged nested array (shape ${JSON.stringify(shape)} but ${flat.length} values)`);
  const dtype = opts.dtype ?? 'float32';
  const f64 = Float64Array.from(flat, Number);
  const t = new Tensor(native.fromBuffer(f64, opts.shape ?? shape, dtypeCode('float64')));
  const c = t.to(dtype);
  t.dispose();
  return finish(c, opts);
}

/** Wraps raw bytes (e.g. from a file) as a tensor of the given dtype and shape. */
export function fromBuffer(buf: ArrayBufferView | ArrayBuffer, shape: number[], dtype: DType): Tensor {
  return new Tensor(native.fromBuffer(buf, shape, dtypeCode(dtype)));
}

export function scalarTensor(v: number, opts: Opts = {}): Tensor {
  return full([], v, opts);
}

export function zeros(shape: number[], opts: Opts = {}): Tensor {
  return finish(callOp('aten::zeros', shape, dt(opts), null, dev(opts)), { requiresGrad: opts.requiresGrad });
}
export function ones(shape: number[], opts: Opts = {}): Tensor {
  return finish(callOp('aten::ones', shape, dt(opts), null, dev(opts)), { requiresGrad: opts.requiresGrad });
}
export function empty(shape: number[], opts: Opts = {}): Tensor {
  return finish(callOp('aten::empty.memory_format', shape, dt(opts), null, dev(opts)), { requiresGrad: opts.requiresGrad });
}
export function full(shape: number[], value: number, opts: Opts = {}): Tensor {
  return finish(callOp('aten::full', shape, value, dt(opts), null, dev(opts)), { requiresGrad: opts.requiresGrad });
}
export function zerosLike(t: Tensor, opts: Opts = {}): Tensor {
  return callOp('aten::zeros_like', t, opts.dtype ? dtypeCode(opts.dtype) : null, null, dev(opts));
}
export function onesLike(t: Tensor, opts: Opts = {}): Tensor {
  return callOp('aten::ones_like', t, opts.dtype ? dtypeCode(opts.dtype) : null, null, dev(opts));
}
export function fullLike(t: Tensor, value: number, opts: Opts = {}): Tensor {
  return callOp('aten::full_like', t, value, opts.dtype ? dtypeCode(opts.dtype) : null, null, dev(opts));
}
export function emptyLike(t: Tensor): Tensor {
  return callOp('aten::empty_like', t);
}

/** `arange(end)` or `arange(start, end, step)`; integer arguments give int64 unless dtype is set. */
export function arange(start: number, end?: number, step = 1, opts: Opts = {}): Tensor {
  const [s, e] = end === undefined ? [0, start] : [start, end];
  const ints = Number.isInteger(s) && Number.isInteger(e) && Number.isInteger(step);
  return callOp('aten::arange.start_step', s, e, step, dt(opts, ints ? 'int64' : 'float32'), null, dev(opts));
}
export function linspace(start: number, end: number, steps: number, opts: Opts = {}): Tensor {
  return callOp('aten::linspace', start, end, steps, dt(opts), null, dev(opts));
}
export function eye(n: number, opts: Opts = {}): Tensor {
  return callOp('aten::eye', n, dt(opts), null, dev(opts));
}

// ---- random ----------------------------------------------------------------------------
/**
 * `draw(shape)`, or with a batch-sharded generator (Generator.batchShard) and a batch dimension,
 * this rank's slice of the draw for the global batch (worldSize × as many samples).
 */
export function shardedDraw(
  shape: number[],
  generator: Generator | undefined | null,
  batchDim: number | undefined,
  draw: (shape: number[]) => Tensor,
): Tensor {
  const s = generator?.batchShard;
  if (!s || s.worldSize === 1 || batchDim === undefined) return draw(shape);
  const dim = batchDim < 0 ? batchDim + shape.length : batchDim;
  const n = shape[dim];
  const full = draw(shape.map((v, i) => (i === dim ? v * s.worldSize : v)));
  const mine = full.narrow(dim, s.rank * n, n).contiguous();
  full.dispose();
  return mine;
}
export function randn(shape: number[], opts: RandOpts = {}): Tensor {
  const t = shardedDraw(shape, opts.generator, opts.batchDim, (s) =>
    callOp('aten::randn.generator', s, opts.generator ?? null, dt(opts), null, dev(opts)),
  );
  return finish(t, { requiresGrad: opts.requiresGrad });
}
export function rand(shape: number[], opts: RandOpts = {}): Tensor {
  const t = shardedDraw(shape, opts.generator, opts.batchDim, (s) =>
    callOp('aten::rand.generator', s, opts.generator ?? null, dt(opts), null, dev(opts)),
  );
  return finish(t, { requiresGrad: opts.requiresGrad });
}
/** Integers uniform in [low, high). */
export function randint(low: number, high: number, shape: number[], opts: RandOpts = {}): Tensor {
  return shardedDraw(shape, opts.generator, opts.batchDim, (s) =>
    callOp('aten::randint.low_generator', low, high, s, opts.generator ?? null, dt(opts, 'int64'), null, dev(opts)),
  );
}
export function randperm(n: number, opts: RandOpts = {}): Tensor {
  return callOp('aten::randperm.generator', n, opts.generator ?? null, dt(opts, 'int64'), null, dev(opts));
}
export function randnLike(t: Tensor, generator?: Generator): Tensor {
  return randn(t.shape, { generator, dtype: t.dtype, device: t.device });
}
export function randLike(t: Tensor, generator?: Generator): Tensor {
  return rand(t.shape, { generator, dtype: t.dtype, device: t.device });
}
/** Samples indices from each row of `probs` (unnormalised non-negative weights). */
export function multinomial(probs: Tensor, numSamples: number, replacement = false, generator?: Generator): Tensor {
  return callOp('aten::multinomial', probs, numSamples, replacement, generator ?? null);
}
export function bernoulli(p: Tensor, generator?: Generator): Tensor {
  return callOp('aten::bernoulli', p, generator ?? null);
}
/** In place: uniform in [from, to). */
export function uniform_(t: Tensor, from = 0, to = 1, generator?: Generator): Tensor {
  native.callVoid(native.op('aten::uniform_', ''), t.h, from, to, generator?.generatorHandle ?? null);
  return t;
}
export function normal_(t: Tensor, mean = 0, std = 1, generator?: Generator): Tensor {
  native.callVoid(native.op('aten::normal_', ''), t.h, mean, std, generator?.generatorHandle ?? null);
  return t;
}
