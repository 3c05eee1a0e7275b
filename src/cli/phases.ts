// A run of several phases that depend on each other (`d2c fit`): each phase says what it reads, what
// it writes, how it knows it is done and how it resumes; the driver runs them in table order,
// skipping the done ones, and runs phases marked `parallel` side by side when jobs allow, each in a
// child process (libtorch's global generator, which a checkpoint records, is one per process).
import type { StopSignal } from '../train/stop.ts';

export interface Phase<C> {
  name: string;
  /** Phases whose outputs this one reads. */
  needs: readonly string[];
  /** What it writes (for --help and the messages). */
  makes: string;
  /** How a second run continues it (for --help). */
  resumes: string;
  /** A line saying its output is complete and current, or null when it must run. */
  done(c: C): string | null;
  /** Runs it (continuing what an earlier run left); false when it stopped on a request. */
  run(c: C): Promise<boolean>;
  /** Whether it may run in a child process beside another such phase. */
  parallel?: boolean;
}

export interface DriverOptions {
  jobs: number;
  stop: StopSignal;
  /** Prints `[i/n] name: text`. */
  say(name: string, text: string): void;
  /** Runs one phase in a child process with `threads` threads; resolves when it exits. */
  inChild(name: string, threads: number): Promise<void>;
  threads: number;
}

/** Runs the table; returns false when a stop request ended it early. */
export async function runPhases<C>(table: readonly Phase<C>[], c: C, o: DriverOptions): Promise<boolean> {
  const finished = new Set<string>();
  while (finished.size < table.length) {
    if (o.stop.requested) return false;
    const ready = table.filter((p) => !finished.has(p.name) && p.needs.every((n) => finished.has(n)));
    if (ready.length === 0) throw new Error(`phases ${table.map((p) => p.name).join(', ')}: a need is never met`);
    const todo = ready.filter((p) => !reportDone(p, c, o));
    for (const p of ready) if (!todo.includes(p)) finished.add(p.name);
    if (todo.length === 0) continue;
    const batch = o.jobs > 1 && todo[0].parallel ? todo.filter((p) => p.parallel).slice(0, o.jobs) : [todo[0]];
    const ok = batch.length === 1 ? await batch[0].run(c) : await runSideBySide(batch, c, o);
    if (!ok) return false;
    for (const p of batch) finished.add(p.name);
  }
  return true;
}

function reportDone<C>(p: Phase<C>, c: C, o: DriverOptions): boolean {
  const done = p.done(c);
  if (done !== null) o.say(p.name, done);
  return done !== null;
}

/** Runs the batch in child processes; a failure stops the others (they save) and is rethrown. */
async function runSideBySide<C>(batch: Phase<C>[], c: C, o: DriverOptions): Promise<boolean> {
  const threads = Math.max(1, Math.floor(o.threads / batch.length));
  for (const p of batch) o.say(p.name, `in its own process beside ${batch.length - 1} other(s), ${threads} thread(s)`);
  const results = await Promise.allSettled(
    batch.map((p) =>
      o.inChild(p.name, threads).catch((e) => {
        o.stop.request();
        throw e;
      }),
    ),
  );
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
  return batch.every((p) => {
    const done = p.done(c);
    if (done === null && !o.stop.requested) throw new Error(`${p.name}: its process ended before the phase was done`);
    return done !== null;
  });
}

/** The phases, one a line, for --help. */
export function describePhases<C>(table: readonly Phase<C>[]): string {
  return table
    .map((p, i) => `  ${i + 1}. ${p.name} → ${p.makes}${p.needs.length ? ` (from ${p.needs.join(', ')})` : ''}; ${p.resumes}`)
    .join('\n');
}
