// HTTP-thread side of the model: one worker thread (model_worker.ts) holds the D2C model. ModelHost
// starts it, waits until the model has loaded (so a bad folder fails at startup, not on the first
// request) and runs one generation at a time.
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../data/decode_pool.ts';
import type { Uint8Batch } from '../data/png.ts';
import type { GenerateOptions, GenerateProgress } from '../pipeline/d2c.ts';
import type { ModelInfo, WorkerInit, WorkerReply, WorkerRequest } from './model_worker.ts';

/** A second generation asked for while one runs; the server answers 409. */
export class BusyError extends Error {
  override readonly name = 'BusyError';
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

interface Pending {
  id: number;
  resolve: (g: Generated) => void;
  reject: (e: Error) => void;
  onProgress?: (p: GenerateProgress) => void;
}

export class ModelHost {
  private pending?: Pending;
  private nextId = 0;
  /** Set when the worker died: every later request fails with it. */
  private failure?: Error;
  private closing = false;

  private constructor(
    private readonly worker: Worker,
    readonly info: ModelInfo,
  ) {
    worker.on('message', (m: WorkerReply) => this.onReply(m));
    worker.on('error', (e) => this.fail(new Error(`the model worker failed: ${e.message}`)));
    worker.on('exit', (code) => {
      if (!this.closing) this.fail(new Error(`the model worker stopped (exit code ${code})`));
    });
  }

  /** Loads `init.model` in a new worker thread; rejects with the loader's message if it cannot. */
  static start(init: WorkerInit): Promise<ModelHost> {
    const worker = startWorker(new URL('./model_worker.ts', import.meta.url), { workerData: init });
    return new Promise((resolve, reject) => {
      const settle = (f: () => void) => {
        worker.off('message', onMessage).off('error', onError).off('exit', onExit);
        f();
      };
      const onMessage = (m: WorkerReply) => {
        if (m.type === 'ready') settle(() => resolve(new ModelHost(worker, m.info)));
        else if (m.type === 'failed') settle(() => reject(new ModelLoadError(m.message)));
      };
      const onError = (e: Error) =>
        settle(() => reject(new ModelLoadError(`the model worker failed while loading: ${e.message}`)));
      const onExit = (code: number) =>
        settle(() => reject(new ModelLoadError(`the model worker stopped while loading (exit code ${code})`)));
      worker.on('message', onMessage).on('error', onError).on('exit', onExit);
    });
  }

  get busy(): boolean {
    return this.pending !== undefined;
  }

  /** Samples in the worker; rejects with BusyError while another generation runs. */
  generate(options: GenerateOptions, onProgress?: (p: GenerateProgress) => void): Promise<Generated> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.pending) return Promise.reject(new BusyError('a generation is already running; try again when it finishes'));
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.pending = { id, resolve, reject, onProgress };
      this.worker.postMessage({ id, options } satisfies WorkerRequest);
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    this.pending?.reject(new Error('the server is shutting down'));
    this.pending = undefined;
    await this.worker.terminate();
  }

  private onReply(m: WorkerReply): void {
    const p = this.pending;
    if (!p || !('id' in m) || m.id !== p.id) return;
    if (m.type === 'progress') {
      p.onProgress?.(m.progress);
      return;
    }
    this.pending = undefined;
    if (m.type === 'done') p.resolve({ images: m.images, preview: m.preview });
    else p.reject(new Error(m.message));
  }

  private fail(e: Error): void {
    this.failure ??= e;
    this.pending?.reject(e);
    this.pending = undefined;
  }
}
