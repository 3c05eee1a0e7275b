// torch.distributed for d2c: PyTorch's own c10d engine through the addon (native/distributed.cc):
// TCPStore rendezvous, ProcessGroupGloo on CPU, ProcessGroupNCCL on CUDA (when the linked libtorch
// has it). One default process group per process, as torch.distributed's default group.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readJsonFile } from '../io/json_file.ts';
import { native } from './native.ts';
import { Tensor } from './tensor.ts';

export type Backend = 'gloo' | 'nccl';
export type ReduceOp = 'sum' | 'max' | 'min' | 'product';

export interface InitOptions {
  backend?: Backend;
  rank: number;
  worldSize: number;
  masterAddr?: string;
  masterPort?: number;
  /** Rendezvous and collective timeout (default 300 s): a rank that stops answering fails the others after it. */
  timeoutMs?: number;
}

interface DistNative {
  distAvailable(): boolean;
  distInit(backend: string, rank: number, world: number, addr: string, port: number, timeoutMs: number): void;
  distDestroy(): void;
  distAllReduce(ts: number[], op: string, async: boolean): number | undefined;
  distBroadcast(ts: number[], src: number, async: boolean): number | undefined;
  distAllGather(t: number, async: boolean): [number[], number | undefined];
  distBarrier(async: boolean): number | undefined;
  distWait(id: number): void;
  distIsCompleted(id: number): boolean;
  gradSyncCreate(params: number[], bucketBytes: number, overlap: boolean): [number, number];
  gradSyncArm(id: number): void;
  gradSyncFinish(id: number): void;
  gradSyncFree(id: number): void;
}

const N = native as unknown as DistNative;
let state: { rank: number; worldSize: number; backend: Backend } | null = null;

/** Why torch.distributed is missing from this build (setup records it in native/build/stamp.json). */
function missingReason(): string {
  const stamp = join(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..'), 'native', 'build', 'stamp.json');
  try {
    if (existsSync(stamp)) {
      const reason = (readJsonFile(stamp) as { distributed?: { reason?: string } }).distributed?.reason;
      if (reason) return reason;
    }
  } catch {}
  return 'the addon was built without it (rerun node scripts/setup.mjs)';
}

/** Whether this build has torch.distributed (c10d + Gloo). */
export function isAvailable(): boolean {
  return typeof N.distAvailable === 'function' && N.distAvailable();
}

function requireAvailable(): void {
  if (!isAvailable()) throw new Error(`torch.distributed is unavailable: ${missingReason()}`);
}

function requireGroup(what: string): void {
  requireAvailable();
  if (!state) throw new Error(`${what}: the default process group is not initialized (call initProcessGroup first)`);
}

/** A pending collective (asyncOp: true), as torch.distributed's Work. */
export class Work {
  private done = false;
  constructor(private readonly id: number) {}
  /** Blocks until the collective finished; throws what it failed with (e.g. a peer that died). */
  wait(): void {
    if (this.done) return;
    this.done = true;
    N.distWait(this.id);
  }
  isCompleted(): boolean {
    return this.done || N.distIsCompleted(this.id);
  }
}

function work(id: number | undefined, asyncOp: boolean | undefined): Work | undefined {
  return asyncOp ? new Work(id ?? 0) : undefined;
}

export function initProcessGroup(o: InitOptions): void {
  requireAvailable();
  const backend = o.backend ?? 'gloo';
  const { rank, worldSize } = o;
  if (!Number.isInteger(worldSize) || worldSize < 1)
    throw new Error(`initProcessGroup: worldSize must be >= 1, got ${worldSize}`);
  if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize)
    throw new Error(`initProcessGroup: rank must be in 0..${worldSize - 1}, got ${rank}`);
  const port = o.masterPort ?? 29500;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`initProcessGroup: bad masterPort ${port}`);
  N.distInit(backend, rank, worldSize, o.masterAddr ?? '127.0.0.1', port, o.timeoutMs ?? 300_000);
  state = { rank, worldSize, backend };
}

export function isInitialized(): boolean {
  return state !== null;
}

/** Ends the default group (pending work is dropped, gradient hooks removed). */
export function destroyProcessGroup(): void {
  if (!state) return;
  state = null;
  N.distDestroy();
}

export function getRank(): number {
  return state?.rank ?? 0;
}

export function getWorldSize(): number {
  return state?.worldSize ?? 1;
}

export function getBackend(): Backend | null {
  return state?.backend ?? null;
}

function contiguous(ts: Tensor[], what: string): number[] {
  return ts.map((t) => {
    if (!t.isContiguous()) throw new Error(`${what}: tensors must be contiguous (call .contiguous() first)`);
    return t.h;
  });
}

/** Reduces each tensor in place over all ranks; several tensors go in one coalesced collective. */
export function allReduce(tensors: Tensor | Tensor[], o: { op?: ReduceOp; asyncOp?: boolean } = {}): Work | undefined {
  requireGroup('allReduce');
  const ts = Array.isArray(tensors) ? tensors : [tensors];
  return work(N.distAllReduce(contiguous(ts, 'allReduce'), o.op ?? 'sum', o.asyncOp ?? false), o.asyncOp);
}

/** Copies rank `src`'s tensors into the same tensors of every other rank, in place. */
export function broadcast(tensors: Tensor | Tensor[], src = 0, o: { asyncOp?: boolean } = {}): Work | undefined {
  requireGroup('broadcast');
  const ts = Array.isArray(tensors) ? tensors : [tensors];
  return work(N.distBroadcast(contiguous(ts, 'broadcast'), src, o.asyncOp ?? false), o.asyncOp);
}

/** Every rank's `tensor`, in rank order (with asyncOp, read them after work.wait()). */
export function allGather(tensor: Tensor, o: { asyncOp?: boolean } = {}): { tensors: Tensor[]; work?: Work } {
  requireGroup('allGather');
  const [hs, id] = N.distAllGather(contiguous([tensor], 'allGather')[0], o.asyncOp ?? false);
  return { tensors: hs.map((h) => new Tensor(h)), work: work(id, o.asyncOp) };
}

export function barrier(o: { asyncOp?: boolean } = {}): Work | undefined {
  requireGroup('barrier');
  return work(N.distBarrier(o.asyncOp ?? false), o.asyncOp);
}

/**
 * DDP's gradient averaging for a set of parameters: arm() before a backward pass, finish() after.
 * Buckets of up to `bucketBytes` (last parameters first, as their gradients arrive first) start
 * their all-reduce from a post-accumulate-grad hook as soon as all their gradients are in, so the
 * communication overlaps the rest of the backward pass (overlap: false starts all at finish()).
 */
export class GradSync {
  private id: number;
  readonly buckets: number;

  constructor(params: Tensor[], o: { bucketBytes?: number; overlap?: boolean } = {}) {
    requireGroup('GradSync');
    [this.id, this.buckets] = N.gradSyncCreate(
      params.map((p) => p.h),
      o.bucketBytes ?? 4 * 2 ** 20,
      o.overlap ?? true,
    );
  }

  arm(): void {
    N.gradSyncArm(this.id);
  }

  /** After it returns, every parameter's .grad is the mean over the ranks. */
  finish(): void {
    N.gradSyncFinish(this.id);
  }

  free(): void {
    if (this.id > 0) N.gradSyncFree(this.id);
    this.id = 0;
  }
}
