// Data-parallel scaling on one machine: the throughput (images/s) of mar_train_step-sized training
// (global batch 32) with 2 processes × 1 thread over 1 process × 1 thread; the ideal is 2.0.
// Each side is a fresh set of bench/ddp_scaling_worker.ts processes. bench/torch/ddp_scaling.py
// measures the same with PyTorch DDP (Gloo).
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchFigure } from '../load_case.ts';

const worker = join(dirname(fileURLToPath(import.meta.url)), '..', 'ddp_scaling_worker.ts');
const STEPS = 8;

/** A TCP port nothing listens on now, for the rendezvous. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Runs WORLD workers together; resolves with rank 0's images/s. */
async function imagesPerSecond(world: number): Promise<number> {
  const port = await freePort();
  const runs = Array.from({ length: world }, (_, rank) => {
    const child = spawn(process.execPath, [...process.execArgv, worker, ...[rank, world, port, STEPS].map(String)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    return new Promise<string>((resolve, reject) =>
      child.on('exit', (code, signal) =>
        code === 0
          ? resolve(out)
          : reject(
              new Error(
                `ddp_scaling worker ${rank}/${world} ${signal ?? `exited with ${code}`}: ${err.trim().split('\n').pop()}`,
              ),
            ),
      ),
    );
  });
  const [out0] = await Promise.all(runs);
  const v = Number(out0.trim().split('\n').pop());
  if (!Number.isFinite(v)) throw new Error(`ddp_scaling worker 0/${world} printed '${out0.trim()}', not a number`);
  return v;
}

async function run(): Promise<BenchFigure> {
  const one = await imagesPerSecond(1);
  const two = await imagesPerSecond(2);
  return { value: two / one, detail: { images_s_1proc: one, images_s_2proc: two } };
}

export default { name: 'ddp_scaling', unit: 'scaling', run };
