// Worker-thread side of ModelHost: this thread owns the D2C model and every tensor. Sampling is
// seconds of synchronous libtorch work; here it leaves the HTTP thread free to answer, to queue
// other requests and to stream this one's progress. The thread cannot read messages while it
// samples, so the host stops a generation through a shared flag that the sampler checks each step.
import { parentPort, workerData } from 'node:worker_threads';
import { toUint8Batch } from '../data/png.ts';
import { D2C, type GenerateProgress } from '../pipeline/d2c.ts';
import * as torch from '../torch/index.ts';
import {
  FLAG,
  type ModelInfo,
  TEST_EXIT_CODE,
  type WorkerInit,
  type WorkerReply,
  type WorkerRequest,
} from './worker_protocol.ts';

class Cancelled extends Error {}

function describe(m: D2C): ModelInfo {
  return {
    name: m.info.name,
    classes: m.classes,
    imageSize: m.info.imageSize,
    channels: m.info.channels,
    fusion: String(m.parts.stage2.config.fusion ?? 'none'),
    maxSteps: m.stage2.seqLen,
    // A MAR-only model has no stage 1: its (unused) defaults are guidance-free.
    defaults: {
      stage1: m.info.stage1 ?? { cfg: 1, temperature: 1, topK: 0, topP: 1 },
      stage2: { ...m.info.stage2, diffusionSteps: m.diffusionSteps },
    },
    hasStage1: !m.marOnly,
  };
}

function serve(port: NonNullable<typeof parentPort>, init: WorkerInit): void {
  // OpenMP's thread count is per calling thread: it must be set here, not in the HTTP thread.
  torch.setNumThreads(init.threads);
  let m: D2C;
  try {
    m = D2C.fromPretrained(init.model, { device: init.device, precision: init.precision });
  } catch (e) {
    port.postMessage({ type: 'failed', message: (e as Error).message } satisfies WorkerReply);
    return;
  }
  const signal = {
    throwIfAborted() {
      const f = Atomics.load(init.flag, 0);
      if (f === FLAG.cancel) throw new Cancelled();
      if (f === FLAG.exit) process.exit(TEST_EXIT_CODE);
    },
  };
  port.on('message', (req: WorkerRequest) => {
    if ('exit' in req) process.exit(TEST_EXIT_CODE);
    const { id, options } = req;
    const t0 = performance.now();
    let reply: WorkerReply;
    try {
      const onProgress = (progress: GenerateProgress) =>
        port.postMessage({ type: 'progress', id, progress } satisfies WorkerReply);
      const r = m.generate({ ...options, signal }, onProgress);
      try {
        const images = toUint8Batch(r.images);
        const preview = r.preview ? toUint8Batch(r.preview) : null;
        reply = { type: 'done', id, images, preview, ms: performance.now() - t0 };
      } finally {
        torch.dispose([r]);
      }
    } catch (e) {
      reply = e instanceof Cancelled ? { type: 'cancelled', id } : { type: 'error', id, message: (e as Error).message };
    }
    port.postMessage(reply);
  });
  port.postMessage({ type: 'ready', info: describe(m) } satisfies WorkerReply);
}

if (parentPort) serve(parentPort, workerData as WorkerInit);
