// HTTP-thread side of the model: one worker thread (model_worker.ts) holds the D2C model. ModelHost
// starts it, waits until the model has loaded (so a bad folder fails at startup, not on the first
// request), runs one generation at a time and keeps the others in a bounded FIFO queue. A request
// whose signal aborts leaves the queue, or stops the running generation at its next step (through a
// flag shared with the worker, which is busy in synchronous libtorch work). A worker that dies is
// replaced; after `restarts.failures` deaths within `restarts.windowMs` the host gives up.
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../data/decode_pool.ts';
import type { Uint8Batch } from '../data/png_encode.ts';
import type { GenerateOptions, GenerateProgress } from '../pipeline/d2c.ts';
import { FLAG, type ModelInfo, type WorkerInit, type WorkerReply, type WorkerRequest } from './worker_protocol.ts';

/** The queue is full; the server answers 503 with Retry-After. */
export class QueueFullError extends Error {
  override readonly name = 'QueueFullError';
  constructor(
    message: string,
    /** Seconds after which a retry may find room. */
    readonly retryAfterS: number,
  ) {
    super(message);
  }
}

/** The request's signal aborted (its client went away) while it waited or ran. */
export class CancelledError extends Error {
  override readonly name = 'CancelledError';
}

/** The model folder could not be loaded (the loader's message). */
export class ModelLoadError extends Error {
  override readonly name = 'ModelLoadError';
}

export interface Generated {
  /** uint8 [B, C, H, W]. */
  images: Uint8Batch;
  /** The stage-1 codes decoded by the VQ decoder, same layout; null for a MAR-only model. */
  preview: Uint8Batch | null;
}

export interface GenerateHooks {
  onProgress?: (p: GenerateProgress) => void;
  /** The request's place in the queue (1: runs next), at enqueueing and whenever it moves up. */
  onQueued?: (position: number) => void;
  signal?: AbortSignal;
}

export interface HostOptions {
  model: string;
  threads: number;
  device?: WorkerInit['device'];
  precision?: WorkerInit['precision'];
  /** Requests that may wait behind the running one (default 8). */
  maxQueue?: number;
  /** Gives up after this many worker deaths within the window (default 3 in 60 s). */
  restarts?: { failures: number; windowMs: number };
  log?: (line: string) => void;
}

interface Job {
  id: number;
  options: GenerateOptions;
  hooks: GenerateHooks;
  position: number;
  resolve: (g: Generated) => void;
  reject: (e: Error) => void;
}

/** Starts a worker and resolves once its model has loaded; rejects with the loader's message. */
function spawnWorker(init: WorkerInit): Promise<{ worker: Worker; info: ModelInfo }> {
  const worker = startWorker(new URL('./model_worker.ts', import.meta.url), { workerData: init });
  return new Promise((resolve, reject) => {
    const settle = (f: () => void) => {
      worker.off('message', onMessage).off('error', onError).off('exit', onExit);
      f();
    };
    const onMessage = (m: WorkerReply) => {
      if (m.type === 'ready') settle(() => resolve({ worker, info: m.info }));
      else if (m.type === 'failed') settle(() => reject(new ModelLoadError(m.message)));
    };
    const onError = (e: Error) => settle(() => reject(new ModelLoadError(`the model worker failed while loading: ${e.message}`)));
    const onExit = (code: number) =>
      settle(() => reject(new ModelLoadError(`the model worker stopped while loading (exit code ${code})`)));
    worker.on('message', onMessage).on('error', onError).on('exit', onExit);
  });
}

export class ModelHost {
  private worker: Worker | null = null;
  private running?: Job;
  private readonly waiting: Job[] = [];
  private nextId = 0;
  private deaths: number[] = [];
  /** Set when the host gave up restarting: every later request fails with it. */
  private failure?: Error;
  private closing = false;
  /** Milliseconds the last generation took: the basis of Retry-After. */
  private lastMs = 1000;
  private readonly maxQueue: number;
  private readonly restarts: { failures: number; windowMs: number };
  private readonly log: (line: string) => void;

  private constructor(
    private readonly init: WorkerInit,
    readonly info: ModelInfo,
    o: HostOptions,
  ) {
    this.maxQueue = o.maxQueue ?? 8;
    this.restarts = o.restarts ?? { failures: 3, windowMs: 60_000 };
    this.log = o.log ?? (() => {});
  }

  /** Loads `o.model` in a new worker thread; rejects with the loader's message if it cannot. */
  static async start(o: HostOptions): Promise<ModelHost> {
    const maxQueue = o.maxQueue ?? 8;
    if (!Number.isInteger(maxQueue) || maxQueue < 0) throw new Error(`maxQueue must be an integer >= 0, got ${maxQueue}`);
    const { model, threads, device, precision } = o;
    const init: WorkerInit = { model, threads, device, precision, flag: new Int32Array(new SharedArrayBuffer(4)) };
    const { worker, info } = await spawnWorker(init);
    const host = new ModelHost(init, info, o);
    host.attach(worker);
    return host;
  }

  get busy(): boolean {
    return this.running !== undefined;
  }

  /** Requests waiting behind the running one, and how many may. */
  get queue(): { waiting: number; max: number } {
    return { waiting: this.waiting.length, max: this.maxQueue };
  }

  /** Samples in the worker, after the requests ahead; rejects with QueueFullError when the queue is full. */
  generate(options: GenerateOptions, hooks: GenerateHooks = {}): Promise<Generated> {
    if (this.failure) return Promise.reject(this.failure);
    if (hooks.signal?.aborted) return Promise.reject(new CancelledError('the request was cancelled'));
    const willWait = this.running !== undefined || this.worker === null || this.waiting.length > 0;
    if (willWait && this.waiting.length >= this.maxQueue) {
      const retryAfterS = Math.max(1, Math.ceil((this.lastMs * (this.waiting.length + 1)) / 1000));
      return Promise.reject(
        new QueueFullError(`the queue is full (${this.maxQueue} requests waiting); retry in ${retryAfterS} s`, retryAfterS),
      );
    }
    return new Promise((resolve, reject) => {
      const job: Job = { id: this.nextId++, options, hooks, position: 0, resolve, reject };
      hooks.signal?.addEventListener('abort', () => this.cancel(job), { once: true });
      this.waiting.push(job);
      this.pump();
      this.reportPositions();
    });
  }

  /** Test-only: makes the worker exit (at the running generation's next step, or now when idle). */
  exitWorkerForTest(): void {
    if (this.running) Atomics.store(this.init.flag, 0, FLAG.exit);
    else this.worker?.postMessage({ exit: true } satisfies WorkerRequest);
  }

  async close(): Promise<void> {
    this.closing = true;
    const down = new Error('the server is shutting down');
    for (const j of [...this.waiting.splice(0), ...(this.running ? [this.running] : [])]) j.reject(down);
    this.running = undefined;
    await this.worker?.terminate();
  }

  private attach(worker: Worker): void {
    this.worker = worker;
    let error: Error | undefined;
    worker.on('message', (m: WorkerReply) => this.onReply(m));
    worker.on('error', (e) => {
      error = e;
    });
    worker.on('exit', (code) => {
      if (!this.closing) this.onDeath(`the model worker stopped (exit code ${code}${error ? `: ${error.message}` : ''})`);
    });
  }

  /** Starts the next waiting job if the worker is free. */
  private pump(): void {
    if (this.running || !this.worker || this.waiting.length === 0) return;
    const job = this.waiting.shift() as Job;
    this.running = job;
    Atomics.store(this.init.flag, 0, FLAG.run);
    this.worker.postMessage({ id: job.id, options: job.options } satisfies WorkerRequest);
    this.reportPositions();
  }

  private reportPositions(): void {
    this.waiting.forEach((j, i) => {
      if (j.position !== i + 1) {
        j.position = i + 1;
        j.hooks.onQueued?.(j.position);
      }
    });
  }

  private cancel(job: Job): void {
    const at = this.waiting.indexOf(job);
    if (at >= 0) {
      this.waiting.splice(at, 1);
      job.reject(new CancelledError('the request was cancelled while it waited'));
      this.reportPositions();
    } else if (this.running === job) {
      Atomics.store(this.init.flag, 0, FLAG.cancel); // the worker stops at its next step and replies
    }
  }

  private onReply(m: WorkerReply): void {
    const job = this.running;
    if (!job || !('id' in m) || m.id !== job.id) return;
    if (m.type === 'progress') {
      job.hooks.onProgress?.(m.progress);
      return;
    }
    this.running = undefined;
    if (m.type === 'done') {
      this.lastMs = m.ms;
      job.resolve({ images: m.images, preview: m.preview });
    } else if (m.type === 'cancelled') job.reject(new CancelledError('the request was cancelled while it ran'));
    else job.reject(new Error(m.message));
    this.pump();
  }

  /** The worker died: fail the generation it ran, then replace it or give up. */
  private onDeath(why: string): void {
    this.worker = null;
    this.running?.reject(new Error(`${why} during this generation; the server restarts it`));
    this.running = undefined;
    const now = Date.now();
    this.deaths = [...this.deaths.filter((t) => now - t < this.restarts.windowMs), now];
    const { failures, windowMs } = this.restarts;
    if (this.deaths.length >= failures) {
      this.failure = new Error(
        `the model worker failed ${this.deaths.length} times within ${windowMs / 1000} s (last: ${why}); ` +
          'the server stopped generating: restart d2c serve',
      );
      this.log(this.failure.message);
      for (const j of this.waiting.splice(0)) j.reject(this.failure);
      return;
    }
    this.log(`${why}; restarting it (${this.deaths.length} of ${failures} failures allowed within ${windowMs / 1000} s)`);
    spawnWorker(this.init).then(
      ({ worker }) => {
        if (this.closing) return void worker.terminate();
        this.log('the model worker is back');
        this.attach(worker);
        this.pump();
      },
      (e: Error) => {
        if (!this.closing) this.onDeath(e.message);
      },
    );
  }
}
