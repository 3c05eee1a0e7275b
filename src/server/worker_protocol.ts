// What the HTTP thread (model_host.ts) and the model worker (model_worker.ts) tell each other.
// Types and constants only: the HTTP thread imports this without loading libtorch.
import type { Uint8Batch } from '../data/png_encode.ts';
import type { GenerateOptions, GenerateProgress, Stage1Options, Stage2Options } from '../pipeline/d2c.ts';
import type { Precision } from '../torch/autocast.ts';

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
  /** Where the model runs (cpu, cuda, cuda:N) and its sampling precision (default cpu, fp32). */
  device?: string;
  precision?: Precision;
  /** One Int32 shared with the host: a FLAG value, read before each sampling step. */
  flag: Int32Array;
}

/** Values of WorkerInit.flag. */
export const FLAG = { run: 0, cancel: 1, exit: 2 } as const;

/** A generation, or (test-only) an order to exit. */
export type WorkerRequest = { id: number; options: GenerateOptions } | { exit: true };

export type WorkerReply =
  | { type: 'ready'; info: ModelInfo }
  | { type: 'failed'; message: string }
  | { type: 'progress'; id: number; progress: GenerateProgress }
  | { type: 'done'; id: number; images: Uint8Batch; preview: Uint8Batch | null; ms: number }
  | { type: 'cancelled'; id: number }
  | { type: 'error'; id: number; message: string };

/** The exit code of a worker told to exit by the test-only hook. */
export const TEST_EXIT_CODE = 70;
