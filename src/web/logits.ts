// Stage-1 code selection over plain arrays for the browser sampler: classifier-free guidance,
// temperature, top-k and top-p, then one categorical draw — the rules of gpt_sample.ts
// (cfgLogits, filterLogits, sampleFromLogits), which test/web_sampler.test.ts checks against it.
import type { Rng } from './rng.ts';

export interface PickOptions {
  temperature: number;
  topK: number;
  topP: number;
}

/** uncond + (cond − uncond)·scale, row by row (torch.lerp(uncond, cond, scale)). */
export function guide(cond: Float32Array, uncond: Float32Array, scale: number): Float32Array {
  const out = new Float32Array(cond.length);
  for (let i = 0; i < cond.length; i++) out[i] = uncond[i] + scale * (cond[i] - uncond[i]);
  return out;
}

/**
 * The probabilities one row of logits leaves after temperature, top-k (keep the k largest) and
 * top-p (keep the smallest set whose mass reaches p, plus the first one beyond): float64 [V].
 */
export function filteredProbs(logits: Float32Array, o: PickOptions): Float64Array {
  const V = logits.length;
  const t = o.temperature === 1 ? 1 : Math.max(o.temperature, 1e-5);
  const x = Float64Array.from(logits, (v) => (t === 1 ? v : Math.fround(v / t)));
  const keep = new Uint8Array(V).fill(1);
  if (o.topK > 0 && o.topK < V) {
    const kth = [...x].sort((a, b) => b - a)[o.topK - 1];
    for (let i = 0; i < V; i++) if (x[i] < kth) keep[i] = 0;
  }
  if (o.topP < 1) {
    const order = Array.from({ length: V }, (_, i) => i)
      .filter((i) => keep[i])
      .sort((a, b) => x[b] - x[a] || a - b);
    const m = x[order[0]];
    const e = order.map((i) => Math.exp(x[i] - m));
    const total = e.reduce((s, v) => s + v, 0);
    let cum = 0;
    order.forEach((i, r) => {
      // drop a code once the mass before it already exceeds p
      if (cum > o.topP && r > 0) keep[i] = 0;
      cum += e[r] / total;
    });
  }
  let m = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < V; i++) if (keep[i] && x[i] > m) m = x[i];
  const p = new Float64Array(V);
  let total = 0;
  for (let i = 0; i < V; i++) {
    p[i] = keep[i] ? Math.exp(x[i] - m) : 0;
    total += p[i];
  }
  for (let i = 0; i < V; i++) p[i] /= total;
  return p;
}

/** One categorical draw from probabilities (inverse CDF of one uniform). */
export function draw(p: Float64Array, rng: Rng): number {
  const u = rng.uniform();
  let cum = 0;
  let last = 0;
  for (let i = 0; i < p.length; i++) {
    if (p[i] <= 0) continue;
    cum += p[i];
    last = i;
    if (u < cum) return i;
  }
  return last;
}
