// `numpy.random.RandomState(seed).permutation(n)`, bit for bit: torch-fidelity shuffles the samples
// with it (seed 2020) before splitting them for the Inception Score, so the same split needs the same
// generator. MT19937 seeded by init_genrand (numpy's legacy integer seeding), then numpy's legacy
// Fisher–Yates (`_shuffle_raw`) drawing j ∈ [0, i] by masked rejection (`random_interval`).

class MT19937 {
  private readonly mt = new Uint32Array(624);
  private pos = 624;

  constructor(seed: number) {
    let s = seed >>> 0;
    for (let i = 0; i < 624; i++) {
      this.mt[i] = s;
      // 1812433253 · (s ^ (s >>> 30)) + i + 1, mod 2^32
      s = (Math.imul(1812433253, (s ^ (s >>> 30)) >>> 0) + i + 1) >>> 0;
    }
  }

  nextUint32(): number {
    const mt = this.mt;
    if (this.pos >= 624) {
      for (let k = 0; k < 624; k++) {
        const y = (mt[k] & 0x80000000) | (mt[(k + 1) % 624] & 0x7fffffff);
        mt[k] = mt[(k + 397) % 624] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      this.pos = 0;
    }
    let y = mt[this.pos++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** Uniform integer in [0, max] (max < 2^32), numpy's random_interval. */
  interval(max: number): number {
    if (max === 0) return 0;
    let mask = max;
    for (const s of [1, 2, 4, 8, 16]) mask |= mask >>> s;
    mask >>>= 0;
    let v: number;
    do v = (this.nextUint32() & mask) >>> 0;
    while (v > max);
    return v;
  }
}

/** numpy.random.RandomState(seed).permutation(n) for an integer seed in [0, 2^32). */
export function numpyPermutation(n: number, seed: number): Int32Array {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)
    throw new Error(`numpyPermutation: seed must be an integer in [0, 2^32), got ${seed}`);
  if (!Number.isInteger(n) || n < 0 || n >= 2 ** 31)
    throw new Error(`numpyPermutation: n must be an integer in [0, 2^31), got ${n}`);
  const rng = new MT19937(seed);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  for (let i = n - 1; i >= 1; i--) {
    const j = rng.interval(i);
    const t = out[i];
    out[i] = out[j];
    out[j] = t;
  }
  return out;
}
