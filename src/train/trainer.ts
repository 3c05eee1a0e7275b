// The training loop every `d2c train …` command shares: steps, progress bar on a TTY, one
// JSONL log line per logging step, periodic and final checkpoints, resume, Ctrl-C saves and
// exits cleanly, and a NaN/Inf loss stops the run without touching the last good checkpoint.
// In a data-parallel run (train/data_parallel.ts) the ranks agree after every step on the mean
// metrics and on stopping (NaN, Ctrl-C on any rank), so they all stop at the same step; only rank 0
// writes checkpoints and logs, and every rank resumes from them.
import { appendFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { trimTornLine } from '../io/json_file.ts';
import { resolveCheckpointDir } from './checkpoint.ts';
import type { DataParallel } from './data_parallel.ts';
import { StopSignal } from './stop.ts';

/** Where a run is: saved in trainer.json so that resume continues exactly. */
export interface TrainState {
  step: number;
  epoch: number;
  /** The data loader's position and RNG state. */
  data: unknown;
}

/** One kind of training (tokenizer, stage 1, stage 2, classifier) as the loop sees it. */
export interface Trainable {
  /** Runs one optimisation step (in its own tidy scope); returns scalars, `loss` included. */
  step(step: number): Record<string, number> | Promise<Record<string, number>>;
  /** Measures what the checkpoint records but training does not keep current (a KL's scale factor); called before each save. */
  prepareSave?(): void;
  /** Writes a complete checkpoint folder (atomically) for `state`; changes nothing in the task. */
  save(dir: string, state: TrainState): void;
  /** Restores everything from a checkpoint folder and returns where it was. */
  load(dir: string): TrainState;
  /** The loader's current position/epoch, for the state saved next. */
  dataState(): { epoch: number; data: unknown };
  /** Optional work at logging steps (e.g. writing reconstruction grids). */
  onLog?(step: number, dir: string): Promise<Record<string, number> | undefined>;
  /** Releases what the task holds beyond its tensors (the data loader's decoding workers). */
  close?(): Promise<void>;
}

export interface TrainOptions {
  steps: number;
  outDir: string;
  logEvery?: number;
  saveEvery?: number;
  resume?: boolean;
  /** Shown before the progress bar, e.g. "stage2 mar_fmnist". */
  label?: string;
  /** For tests: stop as if Ctrl-C had been pressed after this step. */
  interruptAfter?: number;
  quiet?: boolean;
  /** The run's Ctrl-C handling when the caller owns it (fit's phases); else the loop listens itself. */
  stop?: StopSignal;
  /** This process's part of a data-parallel job (the one its task was built with); none alone. */
  dp?: DataParallel | null;
}

export interface TrainResult {
  step: number;
  interrupted: boolean;
  last: Record<string, number>;
}

export class TrainingDiverged extends Error {}

function fmtDuration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(sec).padStart(2, '0')}s`;
}

export async function runTraining(task: Trainable, o: TrainOptions): Promise<TrainResult> {
  const logEvery = o.logEvery ?? 50;
  const saveEvery = o.saveEvery ?? 1000;
  const dp = o.dp ?? null;
  const lead = !dp || dp.rank === 0; // the rank that writes checkpoints and logs
  const quiet = o.quiet || !lead;
  if (lead) mkdirSync(o.outDir, { recursive: true });
  let step = 0;
  if (o.resume) {
    // resolveCheckpointDir recovers the previous folder when a save died between its renames
    // (rank 0 does that alone, before the others read).
    const found = lead ? existsSync(join(resolveCheckpointDir(o.outDir), 'trainer.json')) : true;
    dp?.barrier();
    if (!found || !existsSync(join(o.outDir, 'trainer.json'))) {
      throw new Error(`--resume: ${o.outDir} holds no checkpoint (no trainer.json)`);
    }
    step = task.load(o.outDir).step;
    if (!quiet) process.stderr.write(`resumed from ${o.outDir} at step ${step}\n`);
  }
  const logPath = join(o.outDir, 'log.jsonl');
  // A run killed mid-append left a torn line: cut it, or the next line would join it.
  if (lead) trimTornLine(logPath);
  const tty = process.stderr.isTTY && !quiet;
  const signal = o.stop ?? new StopSignal();
  const unlisten = o.stop ? null : signal.listen();
  const wasDoing = signal.doing;
  signal.doing = 'finishing this step and saving a checkpoint';
  let interrupted = false;
  const save = () => {
    if (!lead) return;
    const d = task.dataState();
    task.prepareSave?.();
    task.save(o.outDir, { step, epoch: d.epoch, data: d.data });
  };
  const t0 = performance.now();
  const firstStep = step;
  let lastSaved = step;
  let last: Record<string, number> = {};
  let stop = false;
  try {
    while (step < o.steps && !stop && (dp !== null || !signal.requested)) {
      last = await task.step(step);
      const wantStop: boolean = signal.requested || (o.interruptAfter !== undefined && step + 1 >= o.interruptAfter);
      if (dp) {
        const agreed = dp.agree(last, wantStop);
        last = agreed.metrics;
        stop = agreed.stop;
        interrupted = stop;
      } else {
        stop = wantStop;
        interrupted = wantStop;
      }
      for (const [k, v] of Object.entries(last)) {
        if (!Number.isFinite(v)) {
          throw new TrainingDiverged(
            `${k} is ${v} at step ${step + 1}: training stopped. ` +
              (lastSaved > 0
                ? `The last good checkpoint (step ${lastSaved}) in ${o.outDir} is kept.`
                : 'No checkpoint was written.'),
          );
        }
      }
      step++;
      const elapsed = (performance.now() - t0) / 1000;
      const itps = (step - firstStep) / Math.max(elapsed, 1e-9);
      if (lead && (step % logEvery === 0 || step === o.steps)) {
        const extra = (await task.onLog?.(step, o.outDir)) ?? {};
        const line = JSON.stringify({
          step,
          ...round(last),
          ...round(extra),
          it_s: +itps.toFixed(3),
          elapsed_s: +elapsed.toFixed(1),
        });
        appendFileSync(logPath, `${line}\n`);
        if (!quiet) process.stdout.write(`${line}\n`);
      }
      if (tty) {
        const eta = (o.steps - step) / itps;
        process.stderr.write(
          `\r${o.label ?? 'train'} step ${step}/${o.steps} loss ${last.loss?.toFixed(4)} ${itps.toFixed(2)} it/s ETA ${fmtDuration(eta)}   `,
        );
      }
      if (step % saveEvery === 0 && step < o.steps) {
        save();
        lastSaved = step;
      }
      await yieldToEventLoop(); // lets a pending SIGINT be seen between steps
    }
    interrupted ||= signal.requested;
    save();
    if (tty) process.stderr.write('\n');
    if (!quiet) {
      const how = interrupted ? `interrupted at step ${step}` : `finished ${step} steps`;
      process.stderr.write(`${how} in ${fmtDuration((performance.now() - t0) / 1000)}; checkpoint saved to ${o.outDir}\n`);
    }
    return { step, interrupted, last };
  } finally {
    unlisten?.();
    signal.doing = wasDoing;
    await task.close?.();
  }
}

function round(r: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Number.isInteger(v) ? v : +v.toPrecision(6)]));
}
