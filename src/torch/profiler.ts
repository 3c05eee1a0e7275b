// Operator profiles from libtorch's own CPU profiler: the RecordFunction ranges PyTorch's
// torch.profiler reads, so a d2c table and a PyTorch key_averages() table compare op for op,
// autograd's backward ops included.
import { native } from './native.ts';

export interface OpProfile {
  /** "aten::addmm", "AddmmBackward0", … */
  name: string;
  count: number;
  /** wall time inside the op, the ops it called included */
  totalMs: number;
  /** totalMs less the time of the ops it called */
  selfMs: number;
}

/**
 * Runs `fn` with the profiler on; returns its result and the ops it ran, by self time. With
 * `shapes`, an op called with different input shapes gets one row per shape ("name [shapes]").
 */
export function profile<T>(fn: () => T, opts: { shapes?: boolean } = {}): { result: T; ops: OpProfile[] } {
  native.profilerStart(opts.shapes ?? false);
  let rows: [string, number, number, number][];
  let result: T;
  try {
    result = fn();
  } finally {
    rows = native.profilerStop();
  }
  const ops = rows.map(([name, count, totalUs, selfUs]) => ({ name, count, totalMs: totalUs / 1e3, selfMs: selfUs / 1e3 }));
  return { result, ops: ops.sort((a, b) => b.selfMs - a.selfMs) };
}

/** A fixed-width table of the `limit` ops with the most self time, with each one's share. */
export function formatProfile(ops: OpProfile[], limit = 25): string {
  const all = ops.reduce((s, o) => s + o.selfMs, 0);
  const width = Math.max(4, ...ops.slice(0, limit).map((o) => o.name.length));
  const lines = [
    `${'op'.padEnd(width)}  ${'calls'.padStart(6)}  ${'self ms'.padStart(9)}  ${'self %'.padStart(6)}  ${'total ms'.padStart(9)}`,
  ];
  for (const o of ops.slice(0, limit)) {
    const share = all > 0 ? ((100 * o.selfMs) / all).toFixed(1) : '0.0';
    lines.push(
      `${o.name.padEnd(width)}  ${String(o.count).padStart(6)}  ${o.selfMs.toFixed(3).padStart(9)}  ${share.padStart(6)}  ${o.totalMs.toFixed(3).padStart(9)}`,
    );
  }
  lines.push(`${'all ops'.padEnd(width)}  ${''.padStart(6)}  ${all.toFixed(3).padStart(9)}`);
  return lines.join('\n');
}
