// What the page says while it samples, as plain functions of the events (no DOM), so the server's
// page and the exported one weight the bar and word the status the same way, and tests can run them.

export interface PageProgress {
  stage: 'stage1' | 'stage2' | 'decode';
  step: number;
  total: number;
}

/** A sampling event: progress, or (from a busy server's queue) the request's place in line, 1 = next. */
export type PageEvent = { kind: 'progress'; progress: PageProgress } | { kind: 'queued'; position: number };

/** The bar's fill in [0, 1]: stage 1 weighs as one stage-2 step, decoding as one more. */
export function progressFraction(p: PageProgress, stage2Steps: number): number {
  const units = stage2Steps + 2;
  if (p.stage === 'stage1') return p.step / Math.max(1, p.total) / units;
  if (p.stage === 'stage2') return (1 + p.step) / units;
  return 1;
}

export function statusText(e: PageEvent): string {
  if (e.kind === 'queued') return e.position === 1 ? 'waiting: next in line' : `waiting: number ${e.position} in line`;
  const p = e.progress;
  if (p.stage === 'stage1') return `stage 1: code ${p.step} of ${p.total}`;
  if (p.stage === 'stage2') return `stage 2: step ${p.step} of ${p.total}`;
  return 'decoding…';
}

/**
 * One NDJSON line of `POST /api/generate` (docs/DESIGN.md, Server): `{queued: {position}}`,
 * `{progress}`, then `{result}` or `{error}`; read as an event, the result, or the server's error.
 */
export type StreamLine<R> = { event: PageEvent } | { result: R } | { error: string };

export function readStreamLine<R>(line: string): StreamLine<R> {
  const m = JSON.parse(line) as { queued?: { position?: number }; progress?: PageProgress; result?: R; error?: string };
  if (typeof m.queued?.position === 'number') return { event: { kind: 'queued', position: m.queued.position } };
  if (m.progress) return { event: { kind: 'progress', progress: m.progress } };
  if (m.result !== undefined) return { result: m.result };
  if (typeof m.error === 'string') return { error: m.error };
  throw new Error(`the server sent a line the page does not know: ${line.slice(0, 200)}`);
}
