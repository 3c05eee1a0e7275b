// Timing for benchmark cases: the median of repeated measurements after warm-up, the figure
// each bench/cases/*.ts reports and each bench/torch/*.py reproduces for PyTorch eager.

/** Median wall time of `fn` in ms over `repeats` runs after `warmup` unmeasured runs. */
export function medianMs(fn: () => void, opts: { warmup?: number; repeats?: number } = {}): number {
  const { warmup = 2, repeats = 7 } = opts;
  for (let i = 0; i < warmup; i++) fn();
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  return median(times);
}

export function median(xs: number[]): number {
  if (xs.length === 0) throw new Error('median of no values');
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
