// Small seeded PRNG for the data layer (shuffling, flips, synthetic images). Pure JS so that worker
// threads and the loader state need no tensors: a stream is named by integers (seed, epoch, …) and
// recreated from them, which makes resume exact without saving generator state.

/** Mixes integers into one 32-bit hash (murmur3 finalizer over a running combination). */
export function mix32(...xs: number[]): number {
  let h = 0x9e3779b9;
  for (const x of xs) {
    if (!Number.isSafeInteger(x)) throw new Error(`mix32: expected integers, got ${x}`);
    // Split into two 32-bit halves so seeds above 2^32 still matter.
    for (const part of [x >>> 0, Math.floor(x / 2 ** 32) >>> 0]) {
      h = Math.imul(h ^ part, 0x85ebca6b);
      h ^= h >>> 13;
      h = Math.imul(h, 0xc2b2ae35);
      h ^= h >>> 16;
    }
  }
  return h >>> 0;
}

/** mulberry32: 32-bit state, period 2^32 — plenty for shuffling a dataset per epoch. */
export class Rng {
  private s: number;
  constructor(...seed: number[]) {
    this.s = mix32(...seed);
  }
  /** A uniform uint32. */
  u32(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** A uniform float in [0, 1). */
  float(): number {
    return this.u32() / 2 ** 32;
  }
  /** A uniform integer in [0, n) (rejection sampling, no modulo bias). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 2 ** 32) throw new Error(`Rng.int: n must be an integer in 1..2^32, got ${n}`);
    const limit = 2 ** 32 - (2 ** 32 % n);
    for (;;) {
      const v = this.u32();
      if (v < limit) return v % n;
    }
  }
  /** A uniform float in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.float();
  }
}

/** A uniformly random permutation of 0..n-1 (Fisher–Yates). */
export function permutation(n: number, rng: Rng): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}
