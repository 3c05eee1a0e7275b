// `--device cpu|cuda|cuda:N` and `--precision fp32|bf16`, shared by every command that runs a model.
// A data-parallel worker asked for `cuda` takes the GPU of its LOCAL_RANK (one GPU per process, as
// torchrun's workers do); asking for CUDA where libtorch has none is one `d2c:` line.
import type { Command } from 'commander';
import * as torch from '../torch/index.ts';
import { UsageError } from './errors.ts';
import { choiceOption } from './options.ts';

export interface DeviceFlags {
  device: string;
}
export interface PrecisionFlags {
  precision?: torch.Precision;
}

export function deviceOption(cmd: Command): Command {
  return cmd.option(
    '--device <device>',
    'where the model runs: cpu, cuda or cuda:N (a data-parallel worker: cuda:LOCAL_RANK)',
    'cpu',
  );
}

export function precisionOption(cmd: Command, what: string): Command {
  return cmd.option(
    '--precision <p>',
    `${what}: fp32, or bf16 for the linear, conv and attention ops (weights, optimizer, EMA, losses stay fp32; default fp32)`,
    choiceOption('--precision', torch.PRECISIONS),
  );
}

/** --device and --precision of the commands that sample a model folder. */
export function samplingDeviceOptions(cmd: Command): Command {
  return precisionOption(deviceOption(cmd), 'sampling compute precision');
}

/** The device to run on: checked against libtorch, `cuda` made `cuda:LOCAL_RANK` in a worker. */
export function runDevice(spec: string, env: NodeJS.ProcessEnv = process.env): string {
  const local = env.LOCAL_RANK;
  const device = spec === 'cuda' && local !== undefined && /^\d+$/.test(local) ? `cuda:${local}` : spec;
  try {
    return torch.checkDevice(device);
  } catch (e) {
    throw new UsageError(`--device ${(e as Error).message.replace(/^device /, '')}`);
  }
}
