// Learning-rate schedules: linear warm-up, then constant or half-cosine down to `minLr`, as MAR's
// `adjust_learning_rate` (LTH14/mar util/lr_sched.py). `t` may count epochs (fractional, as MAR
// passes `data_iter_step / len(loader) + epoch`) or steps; warmup and total use the same unit.

export type LrScheduleKind = 'constant' | 'cosine';

export interface LrSchedule {
  baseLr: number;
  warmup: number;
  /** End of the cosine (same unit as t); unused by 'constant'. */
  total: number;
  kind: LrScheduleKind;
  minLr?: number;
}

export function lrAt(t: number, s: LrSchedule): number {
  if (!(s.warmup >= 0)) throw new Error(`lr schedule: warmup must be >= 0, got ${s.warmup}`);
  if (t < s.warmup) return (s.baseLr * t) / s.warmup;
  if (s.kind === 'constant') return s.baseLr;
  if (s.kind !== 'cosine') throw new Error(`lr schedule: unknown kind '${s.kind as string}' (expected constant|cosine)`);
  if (!(s.total > s.warmup)) throw new Error(`lr schedule: cosine total ${s.total} must exceed warmup ${s.warmup}`);
  const minLr = s.minLr ?? 0;
  const progress = Math.min(1, (t - s.warmup) / (s.total - s.warmup));
  return minLr + (s.baseLr - minLr) * 0.5 * (1 + Math.cos(Math.PI * progress));
}
