// `d2c serve` under load and faults, over real HTTP on the loopback address with a tiny random
// model: requests queue in order, an overfull queue answers 503, a client that goes away frees the
// model within a step, and a dead model worker is replaced.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ModelHost } from '../src/server/model_host.ts';
import { type InfoResponse, type RunningServer, startServer } from '../src/server/server.ts';
import { readStreamLine, statusText } from '../src/web/progress.ts';
import { tinyModelFolder } from './helpers/tiny_model_folder.ts';

let server: RunningServer;
let model: string;
const logged: string[] = [];

before(async () => {
  model = tinyModelFolder(join(mkdtempSync(join(tmpdir(), 'd2c-serve-')), 'model'));
  server = await startServer({ model, port: 0, threads: 1, maxQueue: 2, log: (l) => logged.push(l) });
});
after(() => server.close());

interface Line {
  queued?: { position: number };
  progress?: { stage: string; step: number; total: number };
  result?: { seed: number };
  error?: string;
}

/** An NDJSON generation whose lines arrive one by one, each with its arrival time. */
class Stream {
  readonly lines: { at: number; line: Line }[] = [];
  readonly abort = new AbortController();
  readonly done: Promise<number>;
  private waiters: (() => void)[] = [];

  constructor(body: unknown) {
    this.done = this.run(body);
  }

  private async run(body: unknown): Promise<number> {
    const res = await fetch(new URL('api/generate', server.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/x-ndjson' },
      body: JSON.stringify(body),
      signal: this.abort.signal,
    });
    if (!res.ok || !res.body) {
      this.lines.push({ at: performance.now(), line: { error: `${res.status} ${await res.text()}` } });
      this.wake();
      return res.status;
    }
    let buf = '';
    try {
      for await (const chunk of res.body.pipeThrough(new TextDecoderStream())) {
        buf += chunk;
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          this.lines.push({ at: performance.now(), line: JSON.parse(buf.slice(0, i)) as Line });
          buf = buf.slice(i + 1);
          this.wake();
        }
      }
    } catch (e) {
      if (!this.abort.signal.aborted) throw e;
    }
    return res.status;
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** The first line that satisfies `pred` (waits for it; fails after 300 s: the test machine may be busy). */
  async first(pred: (l: Line) => boolean, what: string): Promise<{ at: number; line: Line }> {
    const deadline = performance.now() + 300_000;
    for (;;) {
      const hit = this.lines.find((l) => pred(l.line));
      if (hit) return hit;
      if (performance.now() > deadline) throw new Error(`no ${what} line within 300 s: ${JSON.stringify(this.lines)}`);
      await Promise.race([new Promise<void>((r) => this.waiters.push(r)), new Promise((r) => setTimeout(r, 200))]);
    }
  }
}

const isProgress = (l: Line) => l.progress !== undefined;
const isQueued = (l: Line) => l.queued !== undefined;
const isEnd = (l: Line) => l.result !== undefined || l.error !== undefined;
// Long enough that a cancel or an exit lands mid-generation (64 steps of 50 diffusion steps).
const LONG = { n: 8, seed: 3, steps: 64, diffusionSteps: 50 };

async function info(): Promise<InfoResponse> {
  return (await (await fetch(new URL('api/info', server.url))).json()) as InfoResponse;
}

test('3 concurrent requests all answer 200, in the order they came, the waiting ones told their place', async () => {
  const a = new Stream({ n: 2, seed: 0, steps: 8 });
  await a.first(isProgress, 'progress');
  const b = new Stream({ n: 2, seed: 1, steps: 2 });
  const queuedB = (await b.first(isQueued, 'queued')).line;
  assert.deepEqual(queuedB, { queued: { position: 1 } });
  // The page reads the server's line as its place in line (one format for both).
  const read = readStreamLine(JSON.stringify(queuedB));
  assert.ok('event' in read, JSON.stringify(read));
  assert.equal(statusText(read.event), 'waiting: next in line');
  const c = new Stream({ n: 2, seed: 2, steps: 2 });
  assert.deepEqual((await c.first(isQueued, 'queued')).line, { queued: { position: 2 } });
  const q = await info();
  assert.deepEqual(q.queue, { waiting: 2, max: 2 });
  assert.equal(q.busy, true);
  assert.deepEqual(await Promise.all([a.done, b.done, c.done]), [200, 200, 200]);
  const ends = [a, b, c].map((s) => s.lines.find((l) => isEnd(l.line)));
  assert.deepEqual(
    ends.map((e) => e?.line.result?.seed),
    [0, 1, 2],
  );
  assert.ok((ends[0]?.at ?? 0) < (ends[1]?.at ?? 0) && (ends[1]?.at ?? 0) < (ends[2]?.at ?? 0), 'finished out of order');
  // C moved up to place 1 when A finished.
  assert.ok(c.lines.some((l) => l.line.queued?.position === 1));
  assert.deepEqual((await info()).queue, { waiting: 0, max: 2 });
});

test('an overfull queue answers 503 with Retry-After; the queue goes on', async () => {
  const a = new Stream(LONG);
  await a.first(isProgress, 'progress');
  const b = new Stream({ n: 1, seed: 1, steps: 1 });
  const c = new Stream({ n: 1, seed: 2, steps: 1 });
  await b.first(isQueued, 'queued');
  await c.first(isQueued, 'queued');
  const res = await fetch(new URL('api/generate', server.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ n: 1 }),
  });
  assert.equal(res.status, 503);
  assert.match(res.headers.get('retry-after') ?? '', /^\d+$/);
  assert.match(((await res.json()) as { error: string }).error, /the queue is full \(2 requests waiting\)/);
  a.abort.abort();
  assert.deepEqual(await Promise.all([b.done, c.done]), [200, 200]);
  assert.ok(b.lines.some((l) => l.line.result) && c.lines.some((l) => l.line.result));
});

// Closed while stage 1 draws its codes (its first line comes before them), then mid-stage 2.
const closeAfter: [string, (l: Line) => boolean][] = [
  ['first progress line', isProgress],
  ['first stage-2 progress line', (l) => l.progress?.stage === 'stage2'],
];
for (const [what, pred] of closeAfter) {
  test(`a stream closed after its ${what} frees the model within a step`, async () => {
    // One image: a step of it is short, so the 2 s bound measures the hand-over, not the step.
    const a = new Stream({ ...LONG, n: 1 });
    await a.first(pred, what);
    const b = new Stream({ n: 1, seed: 4, steps: 1 });
    await b.first(isQueued, 'queued');
    const from = logged.length;
    const closed = performance.now();
    a.abort.abort();
    const started = await b.first(isProgress, 'progress');
    const ms = started.at - closed;
    assert.ok(ms < 2000, `the next request's first progress line came ${ms.toFixed(0)} ms after the close`);
    assert.equal(await b.done, 200);
    // The worker stopped mid-generation (uncancelled, this one runs for seconds more).
    assert.ok(
      logged.slice(from).some((l) => /cancelled while it ran/.test(l)),
      logged.slice(from).join('\n'),
    );
  });
}

test('a waiting request whose client goes away leaves the queue', async () => {
  const a = new Stream({ ...LONG, steps: 16 });
  await a.first(isProgress, 'progress');
  const b = new Stream({ n: 1, seed: 5, steps: 1 });
  await b.first(isQueued, 'queued');
  const c = new Stream({ n: 1, seed: 6, steps: 1 });
  assert.equal((await c.first(isQueued, 'queued')).line.queued?.position, 2);
  b.abort.abort();
  // C moves up once B has left.
  await c.first((l) => l.queued?.position === 1, 'queued at 1');
  assert.equal((await info()).queue.waiting, 1);
  assert.deepEqual(await Promise.all([a.done, c.done]), [200, 200]);
});

test('a model worker that dies mid-generation fails that request and is replaced; the next one answers 200', async () => {
  const a = new Stream(LONG);
  await a.first(isProgress, 'progress');
  const b = new Stream({ n: 2, seed: 7, steps: 2 });
  await b.first(isQueued, 'queued');
  server.exitModelWorkerForTest();
  const end = await a.first(isEnd, 'end');
  assert.match(end.line.error ?? '', /the model worker stopped \(exit code 70\) during this generation/);
  assert.equal(await b.done, 200);
  assert.equal(b.lines.at(-1)?.line.result?.seed, 7);
  assert.ok(
    logged.some((l) => /restarting it \(1 of 3 failures allowed within 60 s\)/.test(l)),
    logged.join('\n'),
  );
  // An idle worker that dies is replaced too.
  server.exitModelWorkerForTest();
  while (!logged.some((l) => /restarting it \(2 of 3/.test(l))) await new Promise((r) => setTimeout(r, 100));
  const c = new Stream({ n: 1, seed: 8, steps: 1 });
  assert.equal(await c.done, 200);
});

test('after repeated deaths within the window the host gives up, with a message saying so', async () => {
  const lines: string[] = [];
  const host = await ModelHost.start({
    model,
    threads: 1,
    restarts: { failures: 2, windowMs: 600_000 },
    log: (l) => lines.push(l),
  });
  const until = async (re: RegExp) => {
    for (let i = 0; i < 3000 && !lines.some((l) => re.test(l)); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(
      lines.some((l) => re.test(l)),
      `no log line ${re}: ${lines.join('\n')}`,
    );
  };
  try {
    host.exitWorkerForTest();
    await until(/the model worker is back/);
    host.exitWorkerForTest();
    await until(/the model worker failed 2 times within 600 s .*restart d2c serve/);
    await assert.rejects(
      host.generate({ classes: [0] }),
      /failed 2 times within 600 s \(last: the model worker stopped \(exit code 70\)\)/,
    );
  } finally {
    await host.close();
  }
});
