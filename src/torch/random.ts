// Seeded random generators. Pass one explicitly for reproducible sampling (DESIGN: one seeded
// generator, the same seed gives the same image); `manualSeed` seeds the global default.
import { type GeneratorHandle, native } from './native.ts';
import { Tensor } from './tensor.ts';

/** This process's part of a data-parallel run: rank `rank` of `worldSize` (see Generator.batchShard). */
export interface BatchShard {
  rank: number;
  worldSize: number;
}

export class Generator {
  readonly generatorHandle: GeneratorHandle;
  readonly device: string;
  /**
   * Set in data-parallel training: a draw that names its batch dimension (RandOpts.batchDim, dropout)
   * covers the global batch and keeps this rank's slice of it, so every rank's generator stays in the
   * same state and the samples get exactly the numbers a single process would give them.
   */
  batchShard: BatchShard | null = null;

  constructor(seed = 0, device = 'cpu') {
    this.device = device;
    this.generatorHandle = native.newGenerator(device, seed);
  }

  manualSeed(seed: number): this {
    native.generatorSeed(this.generatorHandle, seed);
    return this;
  }

  /** The full RNG state as a uint8 tensor (for bit-exact resume). */
  getState(): Tensor {
    return new Tensor(native.generatorGetState(this.generatorHandle));
  }

  setState(state: Tensor): void {
    native.generatorSetState(this.generatorHandle, state.h);
  }
}

/** Seeds the global default generators (CPU and every CUDA device). */
export function manualSeed(seed: number): void {
  native.manualSeed(seed);
}

/** State of the global default generator of a device, e.g. for checkpoints. */
export function getRngState(device = 'cpu'): Tensor {
  return new Tensor(native.generatorGetState(native.defaultGenerator(device)));
}

export function setRngState(state: Tensor, device = 'cpu'): void {
  native.generatorSetState(native.defaultGenerator(device), state.h);
}
