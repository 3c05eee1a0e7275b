// `d2c serve`: the local web UI (src/server/) for a model folder; runs until Ctrl-C.
import type { Command } from 'commander';
import { ModelLoadError, startServer } from '../../server/server.ts';
import { type DeviceFlags, type PrecisionFlags, runDevice, samplingDeviceOptions } from '../device_options.ts';
import { UsageError } from '../errors.ts';
import { intOption, positiveInt } from '../options.ts';
import { DEFAULT_MODEL } from './sample.ts';

export function register(program: Command): void {
  samplingDeviceOptions(program.command('serve'))
    .description('serve a local web UI that samples images from a D2C model folder')
    .option('--model <dir>', 'D2C model folder', DEFAULT_MODEL)
    .option('--port <n>', 'port (0: any free port)', intOption('--port', { min: 0, max: 65535 }), 7860)
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--threads <n>', 'intra-op threads of the model', positiveInt('--threads'), 2)
    .option(
      '--queue <n>',
      'requests that may wait behind the running generation (more: 503)',
      intOption('--queue', { min: 0, max: 1000 }),
      8,
    )
    .action(
      async (o: DeviceFlags & PrecisionFlags & { model: string; port: number; host: string; threads: number; queue: number }) => {
        o.device = runDevice(o.device);
        const log = (line: string) => process.stderr.write(`${line}\n`);
        const server = await startServer({ ...o, maxQueue: o.queue, log }).catch((e: NodeJS.ErrnoException) => {
          if (e instanceof ModelLoadError) throw new UsageError(`--model: ${e.message}`);
          if (e.code === 'EADDRINUSE') throw new UsageError(`--port: ${e.message} (--port 0 picks a free one)`);
          if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND') throw new UsageError(`--host: ${e.message}`);
          throw e;
        });
        process.stdout.write(`d2c web UI for ${server.info.name}: ${server.url}  (Ctrl-C to stop)\n`);
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        await server.close();
      },
    );
}
