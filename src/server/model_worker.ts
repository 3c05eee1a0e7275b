// Worker-thread side of ModelHost: this thread owns the D2C model and every tensor. Sampling is
// seconds of synchronous libtorch work; here it leaves the HTTP thread free to answer, to refuse a
// second generation and to stream this one's progress.
import { parentPort, workerData } from 'node:worker_threads';
import { toUint8Batch, type Uint8Batch } from '../data/png.ts';
import { D2C, type GenerateOptions, type GenerateProgress, type Stage1Options, type Stage2Options } from '../pipeline/d2c.ts';
import * as torch from '../torch/index.ts';

/** What `GET /api/info` tells about the loaded model. */
export interface ModelInfo {
  name: string;
  classes: string[];
  imageSize: number;
  channels: number;
  fusion: string;
  /** Stage 2 cannot take more autoregressive steps than it has tokens. */
  maxSteps: number;
  defaults: { stage1: Stage1Options; stage2: Stage2Options & { diffusionSteps: number } };
  /** False for a MAR-only model: no stage 1, no coarse previews. */
  hasStage1: boolean;
}

export interface WorkerInit {
  model: string;
  threads: number;
  device?: string;
  precision?: torch.Precision;
}

export type WorkerRequest = { id: number; options: GenerateOptions };

export type WorkerReply =
  | { type: 'ready'; info: ModelInfo }
  | { type: 'failed'; message: string }
  | { type: 'progress'; id: number; progress: GenerateProgress }
  | { type: 'done'; id: number; images: Uint8Batch; preview: Uint8Batch | null }
  | { type: 'error'; id: number; message: string };

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
  port.on('message', ({ id, options }: WorkerRequest) => {
    let reply: WorkerReply;
    try {
      const r = m.generate(options, (progress) => port.postMessage({ type: 'progress', id, progress } satisfies WorkerReply));
      try {
        reply = { type: 'done', id, images: toUint8Batch(r.images), preview: r.preview ? toUint8Batch(r.preview) : null };
      } finally {
        torch.dispose([r]);
      }
    } catch (e) {
      reply = { type: 'error', id, message: (e as Error).message };
    }
    port.postMessage(reply);
  });
  port.postMessage({ type: 'ready', info: describe(m) } satisfies WorkerReply);
}

if (parentPort) serve(parentPort, workerData as WorkerInit);
