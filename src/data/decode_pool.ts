// A pool of worker threads that decode image files (decode_worker.ts), so JPEG decoding and the
// JS resampling of center_crop_arr run beside training instead of on the main thread.
import { availableParallelism } from 'node:os';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { COMPILED, runnableUrl } from './compiled.ts';
import type { DecodeReply, DecodeRequest } from './decode_worker.ts';

/**
 * Starts a worker named by its .ts source. Compiled, its .js sibling runs as is; as source, tsx's
 * hooks must be registered inside the worker too.
 */
export function startWorker(url: URL, options: WorkerOptions = {}): Worker {
  if (!url.pathname.endsWith('.ts')) return new Worker(url, options);
  if (COMPILED) return new Worker(runnableUrl(url), options);
  const api = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(boot, { ...options, eval: true });
}

export class DecodePool {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, { resolve: (r: (Uint8Array | string)[]) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private closed = false;

  constructor(
    readonly size: number,
    readonly channels: 1 | 3,
    numWorkers = Math.min(4, availableParallelism()),
  ) {
    if (!Number.isInteger(numWorkers) || numWorkers <= 0)
      throw new Error(`DecodePool: numWorkers must be a positive integer, got ${numWorkers}`);
    for (let i = 0; i < numWorkers; i++) {
      const w = startWorker(new URL('./decode_worker.ts', import.meta.url));
      w.on('message', (reply: DecodeReply) => {
        const p = this.pending.get(reply.id);
        this.pending.delete(reply.id);
        p?.resolve(reply.results);
      });
      w.on('error', (e) => this.failAll(new Error(`image decoding worker failed: ${e.message}`)));
      // Idle workers must not keep the process alive.
      w.unref();
      this.workers.push(w);
    }
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  /** Decodes the files, spread over the workers; each result is [C, size, size] pixels or an error message. */
  async decode(paths: readonly string[]): Promise<(Uint8Array | string)[]> {
    if (this.closed) throw new Error('DecodePool: decode() after close()');
    const n = this.workers.length;
    const chunk = Math.ceil(paths.length / n);
    const parts: Promise<(Uint8Array | string)[]>[] = [];
    for (let w = 0; w < n && w * chunk < paths.length; w++) {
      const id = this.nextId++;
      const req: DecodeRequest = { id, paths: paths.slice(w * chunk, (w + 1) * chunk), size: this.size, channels: this.channels };
      parts.push(
        new Promise((resolve, reject) => {
          this.pending.set(id, { resolve, reject });
          this.workers[w].ref();
          this.workers[w].postMessage(req);
        }),
      );
    }
    try {
      return (await Promise.all(parts)).flat();
    } finally {
      if (!this.closed && this.pending.size === 0) for (const w of this.workers) w.unref();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.failAll(new Error('DecodePool closed'));
    // An unref'd worker's exit does not keep the event loop alive: awaiting it could end the process
    // with the promise unsettled (exit code 13 under top-level await).
    for (const w of this.workers) w.ref();
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
