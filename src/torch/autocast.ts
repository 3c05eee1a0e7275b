// Mixed precision and FLOP counting for the matmul-class ops (F.linear, F.conv2d,
// F.scaledDotProductAttention), the ops that hold nearly all of a model's arithmetic.
//
// autocast('bfloat16', fn) is torch.autocast narrowed to those ops: inside it they cast float32
// inputs to bfloat16, compute there and hand back float32, so every other op — norms, softmax,
// losses, the residual stream, the diffusion schedule — stays float32, and so do the parameters,
// their gradients, the optimizer state and the EMA (they are never cast in place). Under noGrad
// (sampling) a parameter's cast is cached for the region, as PyTorch caches it; with grad on it
// is cast at every use, since the optimizer may change it inside the region.
//
// startFlopCount() adds up what those ops do in the forward pass (a multiply-add = 2 FLOPs), from
// the shapes they actually ran on.
import { readFileSync } from 'node:fs';
import { isGradEnabled } from './autograd.ts';
import type { DType } from './dtype.ts';
import { keep, release } from './memory.ts';
import { PRECISION_CHOICES, PRECISIONS, type Precision, type PrecisionChoice } from './precision.ts';
import type { Tensor } from './tensor.ts';

export { PRECISION_CHOICES, PRECISIONS, type Precision, type PrecisionChoice } from './precision.ts';

const LOW: Record<Precision, DType | null> = { fp32: null, bf16: 'bfloat16' };

let cpuBf16: boolean | null = null;

/**
 * Whether bf16 matmuls are fast on `device`: on the CPU, the avx512_bf16 or amx_bf16 instructions
 * (Linux's /proc/cpuinfo; elsewhere unknown, so no); on a GPU, no claim (false), so `auto` keeps
 * float32 there unless asked. Without those instructions libtorch computes bf16 by a slow path.
 */
export function fastBf16(device = 'cpu'): boolean {
  if (device !== 'cpu') return false;
  if (cpuBf16 === null) {
    try {
      const info = readFileSync('/proc/cpuinfo', 'utf8');
      cpuBf16 = /^flags\s*:.*\b(avx512_bf16|amx_bf16)\b/m.test(info);
    } catch {
      cpuBf16 = false;
    }
  }
  return cpuBf16;
}

/** `auto` resolved for `device`; fp32 and bf16 as given (anything else is refused, naming it). */
export function resolvePrecision(p: PrecisionChoice, device = 'cpu'): Precision {
  if (p === 'auto') return fastBf16(device) ? 'bf16' : 'fp32';
  if (!PRECISIONS.includes(p))
    throw new Error(`precision must be one of ${PRECISION_CHOICES.join(', ')}, got ${JSON.stringify(p)}`);
  return p;
}

interface Region {
  dtype: DType;
  /** Casts of parameters under noGrad, freed when the outermost region ends. */
  cache: Map<Tensor, Tensor>;
}

let region: Region | null = null;
let flopCounter: { flops: number } | null = null;

/** Runs `fn` with the matmul-class ops in `precision` ('fp32' runs it unchanged). */
export function autocast<T>(precision: Precision, fn: () => T): T {
  const dtype = LOW[precision];
  if (dtype === undefined) throw new Error(`autocast: precision must be one of ${PRECISIONS.join(', ')}, got '${precision}'`);
  if (dtype === null || region !== null) return fn(); // fp32, or already inside a region
  region = { dtype, cache: new Map() };
  const mine = region;
  try {
    const r = fn();
    if (r instanceof Promise) throw new Error('autocast(fn): fn must be synchronous (got a Promise)');
    return r;
  } finally {
    region = null;
    for (const t of mine.cache.values()) t.dispose();
  }
}

/** The dtype the matmul-class ops compute in now, or null (float32, as given). */
export function autocastDtype(): DType | null {
  return region?.dtype ?? null;
}

/**
 * Runs a matmul-class op under the current autocast: `run` gets each input cast (float32 tensors
 * only; null passes through) and its float32 result is returned. Without a region it runs as is.
 */
export function castCall(inputs: (Tensor | null)[], run: (xs: (Tensor | null)[]) => Tensor): Tensor {
  const r = region;
  if (r === null || !inputs.some((t) => t !== null && t.dtype === 'float32')) return run(inputs);
  const made: Tensor[] = [];
  const cast = inputs.map((t) => {
    if (t === null || t.dtype !== 'float32') return t;
    const cached = r.cache.get(t);
    if (cached) return cached;
    const c = t.to(r.dtype);
    if (!isGradEnabled() && t.requiresGrad && t.isLeaf)
      r.cache.set(t, keep(c)); // a parameter
    else made.push(c);
    return c;
  });
  const low = run(cast);
  const out = low.to('float32');
  release(low);
  for (const c of made) release(c); // autograd keeps what it saved; the handles can go
  return out;
}

/**
 * Starts counting the forward FLOPs of the linear, conv and attention ops run from now until
 * `stop()` (which returns them); counts may nest. Works across awaits, unlike a callback.
 */
export function startFlopCount(): { stop(): number } {
  const outer = flopCounter;
  const mine = { flops: 0 };
  flopCounter = mine;
  let stopped = false;
  return {
    stop() {
      if (!stopped) {
        stopped = true;
        flopCounter = outer;
        if (outer) outer.flops += mine.flops;
      }
      return mine.flops;
    },
  };
}

/** Whether a FLOP count is open (callers skip computing what they would add). */
export function countingFlops(): boolean {
  return flopCounter !== null;
}

/** Adds `n` FLOPs to the open count, if any. */
export function addFlops(n: number): void {
  if (flopCounter) flopCounter.flops += n;
}
