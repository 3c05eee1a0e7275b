// Deterministic disposal of native tensors. `tidy(fn)` disposes every tensor created inside
// `fn` except what it returns (those move to the enclosing scope). The native handle's own
// GC finalizer is the safety net for anything that escapes. Native bytes are reported to V8.
import { native } from './native.ts';

/** What a scope can track: anything with a dispose and a scope slot (Tensor). */
export interface Scoped {
  _scope: Scope | null;
  dispose(): void;
  readonly isDisposed: boolean;
  /** Called when the object leaves all scopes: from now on the GC safety net watches it. */
  _unscoped(): void;
}

export class Scope {
  readonly items: Scoped[] = [];
  constructor(readonly parent: Scope | null) {}
}

let current: Scope | null = null;

/** Puts a new object in the current scope; false when there is none (the caller is unscoped). */
export function track(t: Scoped): boolean {
  if (current === null) return false;
  t._scope = current;
  current.items.push(t);
  return true;
}

/** Runs `fn` in a new scope; tensors it creates are disposed when it returns, except its result. */
export function tidy<T>(fn: () => T): T {
  const scope = new Scope(current);
  current = scope;
  let result: T;
  try {
    result = fn();
    if (result instanceof Promise) throw new Error('tidy(fn): fn must be synchronous (got a Promise)');
  } catch (e) {
    current = scope.parent;
    disposeScope(scope);
    throw e;
  }
  current = scope.parent;
  // The result survives: move it to the parent scope before disposing the rest.
  visit(result, (t) => {
    if (t._scope === scope) {
      t._scope = scope.parent;
      if (scope.parent) scope.parent.items.push(t);
      else t._unscoped();
    }
  });
  disposeScope(scope);
  return result;
}

function disposeScope(scope: Scope): void {
  for (const t of scope.items) if (t._scope === scope && !t.isDisposed) t.dispose();
}

/**
 * Disposes `t` now if it is a temporary of the innermost tidy scope (created there, neither kept nor
 * moved out); anything else — a parameter, a kept or unscoped tensor, one from an outer scope — is
 * left alone. Returns whether it was disposed. PyTorch frees a temporary at its last reference; this
 * lets code say so, so that its memory (unless autograd saved it) is reused while still warm.
 */
export function release(t: Scoped): boolean {
  if (current === null || t._scope !== current || t.isDisposed) return false;
  t.dispose();
  return true;
}

/** Takes tensors out of every scope: the caller disposes them (or the GC does). */
export function keep<T>(value: T): T {
  visit(value, (t) => {
    if (t._scope !== null) {
      t._scope = null;
      t._unscoped();
    }
  });
  return value;
}

/** Disposes every tensor found in `value` (a tensor, an array, or a plain object of them). */
export function dispose(value: unknown): void {
  visit(value, (t) => t.dispose());
}

function isScoped(v: unknown): v is Scoped {
  return typeof v === 'object' && v !== null && '_scope' in v && typeof (v as Scoped).dispose === 'function';
}

function visit(value: unknown, f: (t: Scoped) => void, depth = 0): void {
  if (value === null || typeof value !== 'object' || depth > 4) return;
  if (isScoped(value)) {
    f(value);
  } else if (Array.isArray(value)) {
    for (const v of value) visit(v, f, depth + 1);
  } else if (Object.getPrototypeOf(value) === Object.prototype || value instanceof Map) {
    const vals = value instanceof Map ? [...value.values()] : Object.values(value);
    for (const v of vals) visit(v, f, depth + 1);
  }
}

/** Number of live native tensors (not yet disposed or collected). */
export function liveTensors(): number {
  return native.liveTensors();
}

/** Bytes held by every live native tensor (V8 is told only of those the GC may free). */
export function liveBytes(): number {
  return native.liveBytes();
}

export interface CpuCacheStats {
  /** Freed bytes held for reuse, and in how many blocks. */
  cachedBytes: number;
  cachedBlocks: number;
  /** Bytes of the cache's blocks now held by tensors. */
  liveBytes: number;
  /** Allocations served from the cache, and those that had to go to the C library. */
  hits: number;
  misses: number;
  /** Requests below minBytes bypass the cache; at most limitBytes stay cached. */
  minBytes: number;
  limitBytes: number;
}

/** The caching CPU allocator's counters (src/torch/native.ts ALLOCATOR), or null when it is off. */
export function cpuCacheStats(): CpuCacheStats | null {
  const s = native.cpuCacheStats();
  if (s === null) return null;
  const [cachedBytes, cachedBlocks, liveBytes, hits, misses, minBytes, limitBytes] = s;
  return { cachedBytes, cachedBlocks, liveBytes, hits, misses, minBytes, limitBytes };
}

/** Frees the CPU allocator's cached blocks (as torch.cuda.empty_cache does on a GPU). */
export function emptyCpuCache(): void {
  native.cpuCacheRelease();
}
