// Data-parallel training (DDP) on torch.distributed: the process's rank in the job, joined once by
// the CLI worker (cli/launch.ts) and passed to the task builders and the trainer, and what they do with it: broadcast the
// initial weights from rank 0, average gradients over the ranks (GradSync's buckets, overlapped with
// backward), shard batches and per-sample random draws, and agree on metrics and on stopping.
import type { Module } from '../nn/module.ts';
import type { Generator, Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';

const dist = torch.distributed;

export interface DataParallelEnv {
  rank: number;
  worldSize: number;
  masterAddr: string;
  masterPort: number;
  backend: torch.distributed.Backend;
  timeoutMs: number;
}

/** The part of a data-parallel job this process runs. */
export class DataParallel {
  private constructor(
    readonly rank: number,
    readonly worldSize: number,
  ) {}

  static init(e: DataParallelEnv): DataParallel {
    dist.initProcessGroup(e);
    return new DataParallel(e.rank, e.worldSize);
  }

  get shard(): { rank: number; worldSize: number } {
    return { rank: this.rank, worldSize: this.worldSize };
  }

  /** Copies rank 0's parameters and buffers into every rank's modules (one flat broadcast per dtype). */
  syncModules(...modules: Module[]): void {
    const all = modules.flatMap((m) => [...m.stateDict().values()]);
    const byType = new Map<string, Tensor[]>();
    for (const t of all) byType.set(`${t.dtype}/${t.device}`, [...(byType.get(`${t.dtype}/${t.device}`) ?? []), t]);
    torch.noGrad(() =>
      torch.tidy(() => {
        for (const ts of byType.values()) {
          const flat = torch.cat(ts.map((t) => t.detach().reshape(-1)));
          this.guard('broadcasting the initial weights', () => dist.broadcast(flat, 0));
          let off = 0;
          for (const t of ts) {
            t.copy_(flat.narrow(0, off, t.numel).view(...t.shape));
            off += t.numel;
          }
        }
      }),
    );
  }

  /** Per-sample draws from `g` cover the global batch, each rank keeping its slice. */
  shardGenerator(g: Generator): void {
    g.batchShard = this.shard;
  }

  /** Gradient averaging for `params` (arm before backward, finish after). */
  gradSync(params: Tensor[], overlap = true): GradAverager {
    return new GradAverager(this, new dist.GradSync(params, { overlap }));
  }

  /**
   * The mean of each metric over the ranks (a NaN anywhere makes it NaN everywhere) and whether any
   * rank asked to stop: one small all-reduce per step, so every rank stops at the same step.
   */
  agree(metrics: Record<string, number>, stop: boolean): { metrics: Record<string, number>; stop: boolean } {
    const keys = Object.keys(metrics).sort();
    const t = torch.tensor(Float64Array.from([...keys.map((k) => metrics[k]), stop ? 1 : 0]));
    try {
      this.guard('exchanging the step metrics', () => dist.allReduce(t));
      const v = t.toTypedArray() as Float64Array;
      return {
        metrics: Object.fromEntries(keys.map((k, i) => [k, v[i] / this.worldSize])),
        stop: v[keys.length] > 0,
      };
    } finally {
      t.dispose();
    }
  }

  barrier(): void {
    this.guard('waiting for the other ranks', () => dist.barrier());
  }

  close(): void {
    dist.destroyProcessGroup();
  }

  /** Runs a collective; a failure (a rank that died, a timeout) becomes one clear error. */
  guard<T>(what: string, f: () => T): T {
    try {
      return f();
    } catch (e) {
      throw new PeerLost(
        `rank ${this.rank} of ${this.worldSize}: lost the other ranks while ${what} (a worker died or stopped answering): ${(e as Error).message.split('\n')[0]}`,
      );
    }
  }
}

export class PeerLost extends Error {}

/** GradSync with the DataParallel's error handling. */
export class GradAverager {
  constructor(
    private readonly dp: DataParallel,
    private readonly sync: torch.distributed.GradSync,
  ) {}
  arm(): void {
    this.sync.arm();
  }
  finish(): void {
    this.dp.guard('averaging gradients', () => this.sync.finish());
  }
}
