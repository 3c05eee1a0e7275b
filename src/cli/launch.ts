// torchrun-style launching for `d2c train …`: --nproc-per-node N workers per machine, --nnodes
// machines (each started with its --node-rank), rendezvous at --master-addr:--master-port. The
// launcher re-runs the same command as N worker processes (RANK, LOCAL_RANK, WORLD_SIZE,
// MASTER_ADDR, MASTER_PORT in their environment, as torchrun sets them) and watches them: a worker
// that dies stops the job with an error naming it, and no worker outlives the launcher.
import { type ChildProcess, spawn } from 'node:child_process';
import type { Command } from 'commander';
import { DataParallel, type DataParallelEnv } from '../train/data_parallel.ts';
import { UsageError } from './errors.ts';
import { intOption, positiveInt } from './options.ts';

export interface LaunchOptions {
  nprocPerNode: number;
  nnodes: number;
  nodeRank: number;
  masterAddr: string;
  masterPort: number;
  batchSize?: number;
  /** --device: a CUDA job's workers talk over NCCL, a CPU job's over Gloo. */
  device?: string;
}

const WORKER_FLAG = 'D2C_DDP_WORKER';
/** How long the other workers get to exit by themselves after one failed, before SIGKILL. */
const GRACE_MS = 5000;

export function launchOptions(cmd: Command): Command {
  return cmd
    .option('--nproc-per-node <n>', 'data-parallel worker processes on this machine', positiveInt('--nproc-per-node'), 1)
    .option('--nnodes <n>', 'machines in the job', positiveInt('--nnodes'), 1)
    .option('--node-rank <n>', 'this machine in the job (0 = the master)', intOption('--node-rank', { min: 0 }), 0)
    .option('--master-addr <host>', "address of node 0's rendezvous", '127.0.0.1')
    .option('--master-port <n>', "port of node 0's rendezvous", intOption('--master-port', { min: 1, max: 65535 }), 29500);
}

/** Whether this process is a data-parallel worker started by a launcher. */
export function isDataParallelWorker(): boolean {
  return process.env[WORKER_FLAG] === '1';
}

/**
 * Starts or joins the data-parallel job the flags ask for. Returns 'launched' after this process
 * ran the job's workers to the end; else what this process trains with: its DataParallel in a
 * worker (its process group is up), null in an ordinary one-process run.
 */
export async function launchOrJoin(o: LaunchOptions): Promise<'launched' | DataParallel | null> {
  const world = o.nprocPerNode * o.nnodes;
  if (isDataParallelWorker()) {
    const dp = DataParallel.init(workerEnv(o.device ?? 'cpu'));
    // the launcher's IPC channel closes when it dies: a worker never outlives it
    process.on('disconnect', () => {
      process.stderr.write('d2c: the launcher is gone; worker exiting\n');
      process.exit(1);
    });
    return dp;
  }
  if (o.nodeRank >= o.nnodes) throw new UsageError(`--node-rank ${o.nodeRank} must be below --nnodes ${o.nnodes}`);
  if (world === 1) return null;
  if (o.batchSize !== undefined && o.batchSize % world !== 0) {
    throw new UsageError(
      `--batch-size ${o.batchSize} does not divide evenly over ${world} processes (--nproc-per-node ${o.nprocPerNode} × --nnodes ${o.nnodes}): it is the global batch`,
    );
  }
  // Checked here too, so a bad value fails once, before any worker starts.
  ddpBackend(o.device ?? 'cpu');
  ddpTimeoutS(process.env.D2C_DDP_TIMEOUT_S);
  await runWorkers(o, world);
  return 'launched';
}

/** NCCL for a CUDA job, Gloo for a CPU one; D2C_DDP_BACKEND (gloo or nccl) overrides. */
export function ddpBackend(device: string, env: NodeJS.ProcessEnv = process.env): 'gloo' | 'nccl' {
  const forced = env.D2C_DDP_BACKEND;
  if (forced === undefined || forced === '') return device.startsWith('cuda') ? 'nccl' : 'gloo';
  if (forced === 'gloo' || forced === 'nccl') return forced;
  throw new UsageError(`D2C_DDP_BACKEND=${JSON.stringify(forced)} is not a backend: use gloo or nccl`);
}

function workerEnv(device: string): DataParallelEnv {
  const num = (k: string) => {
    const v = Number(process.env[k]);
    if (!Number.isInteger(v) || v < 0) throw new Error(`worker: ${k}=${process.env[k]} is not set to an integer`);
    return v;
  };
  return {
    rank: num('RANK'),
    worldSize: num('WORLD_SIZE'),
    masterAddr: process.env.MASTER_ADDR ?? '127.0.0.1',
    masterPort: num('MASTER_PORT'),
    backend: ddpBackend(device),
    timeoutMs: ddpTimeoutS(process.env.D2C_DDP_TIMEOUT_S) * 1000,
  };
}

/** D2C_DDP_TIMEOUT_S: seconds of rendezvous and collective timeout, a number > 0 (default 300). */
export function ddpTimeoutS(v: string | undefined): number {
  if (v === undefined || v === '') return 300;
  const s = Number(v);
  if (!/^\s*[0-9.eE+]+\s*$/.test(v) || !Number.isFinite(s) || s <= 0)
    throw new UsageError(`D2C_DDP_TIMEOUT_S=${JSON.stringify(v)} is not a number of seconds > 0 (default 300)`);
  return s;
}

async function runWorkers(o: LaunchOptions, world: number): Promise<void> {
  const workers: { rank: number; child: ChildProcess; exit?: string }[] = [];
  let failure: string | null = null;
  let killTimer: NodeJS.Timeout | null = null;
  // Ctrl-C reaches every worker of the terminal's process group: they agree to stop and save.
  const ignoreSigint = () => {};
  process.on('SIGINT', ignoreSigint);
  const done = new Promise<void>((resolve) => {
    let running = o.nprocPerNode;
    for (let local = 0; local < o.nprocPerNode; local++) {
      const rank = o.nodeRank * o.nprocPerNode + local;
      const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        env: {
          ...process.env,
          [WORKER_FLAG]: '1',
          RANK: String(rank),
          LOCAL_RANK: String(local),
          WORLD_SIZE: String(world),
          LOCAL_WORLD_SIZE: String(o.nprocPerNode),
          MASTER_ADDR: o.masterAddr,
          MASTER_PORT: String(o.masterPort),
        },
      });
      const w: (typeof workers)[number] = { rank, child };
      workers.push(w);
      child.on('exit', (code, signal) => {
        w.exit = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        if ((code !== 0 || signal) && failure === null) {
          failure = `worker rank ${rank} (pid ${child.pid}) ${w.exit}`;
          // the others fail fast on their own (their collectives lose this rank); then force it
          killTimer = setTimeout(() => {
            for (const x of workers) if (x.exit === undefined) x.child.kill('SIGKILL');
          }, GRACE_MS);
        }
        if (--running === 0) resolve();
      });
    }
  });
  const killAll = () => {
    for (const x of workers) if (x.exit === undefined) x.child.kill('SIGKILL');
  };
  process.on('exit', killAll);
  try {
    await done;
  } finally {
    if (killTimer) clearTimeout(killTimer);
    process.off('SIGINT', ignoreSigint);
    process.off('exit', killAll);
  }
  if (failure !== null) {
    // name the worker that died first: the others fail after it, losing their collectives
    const killed = workers.find((x) => x.exit?.startsWith('was killed'));
    const first = killed ? `worker rank ${killed.rank} (pid ${killed.child.pid}) ${killed.exit}` : failure;
    throw new Error(`data-parallel job stopped: ${first}; the last checkpoint written is kept`);
  }
}
