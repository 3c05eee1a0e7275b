// Optimisation: AdamW with parameter groups, clipping, EMA and learning-rate schedules.
export * from './adamw.ts';
export * from './clip.ts';
export * from './ema.ts';
export * from './schedule.ts';
