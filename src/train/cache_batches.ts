// Batches from a token cache for generator training: a seeded permutation per epoch and a
// random choice of the flipped or plain encoding per sample, both pure functions of
// (seed, epoch, position) so a saved {epoch, position} resumes exactly.
import { permutation, Rng } from '../data/rng.ts';
import type { loadTokenCache } from '../pipeline/cache.ts';
import type { Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';

export interface CacheBatch {
  codes: Tensor; // [B, L] int64
  mean: Tensor; // [B, D, g, g]
  std: Tensor; // [B, D, g, g]
  labels: Tensor; // [B] int64
}

export interface CacheBatchState {
  epoch: number;
  position: number;
}

export class CacheBatches {
  private epoch = 0;
  private position = 0;
  private perm: { epoch: number; p: Int32Array } | null = null;
  readonly count: number;

  constructor(
    private readonly data: ReturnType<typeof loadTokenCache>['data'],
    readonly batchSize: number,
    readonly seed: number,
    readonly hflip = true,
    /** Data-parallel: batchSize is global and this rank takes its contiguous 1/worldSize of each batch. */
    readonly shard = { rank: 0, worldSize: 1 },
  ) {
    this.count = data.labels.shape[0];
    if (this.count < batchSize) throw new Error(`token cache has ${this.count} samples, fewer than one batch of ${batchSize}`);
    if (batchSize % shard.worldSize !== 0)
      throw new Error(`batch size ${batchSize} does not divide evenly over ${shard.worldSize} processes`);
  }

  get batchesPerEpoch(): number {
    return Math.floor(this.count / this.batchSize);
  }

  state(): CacheBatchState {
    return { epoch: this.epoch, position: this.position };
  }

  restore(s: CacheBatchState): void {
    if (!Number.isInteger(s?.epoch) || !Number.isInteger(s?.position))
      throw new Error(`bad cache loader state ${JSON.stringify(s)}`);
    this.epoch = s.epoch;
    this.position = s.position;
  }

  /** The next batch; call inside a tidy (the tensors belong to the current scope). */
  next(): CacheBatch {
    if (this.position >= this.batchesPerEpoch) {
      this.epoch++;
      this.position = 0;
    }
    if (this.perm?.epoch !== this.epoch)
      this.perm = { epoch: this.epoch, p: permutation(this.count, new Rng(this.seed, this.epoch)) };
    const all = this.perm.p.subarray(this.position * this.batchSize, (this.position + 1) * this.batchSize);
    const flipRng = new Rng(this.seed, this.epoch, this.position, 0x5f11);
    const allFlips = Uint8Array.from(all, () => (this.hflip && flipRng.float() < 0.5 ? 1 : 0));
    const B = this.batchSize / this.shard.worldSize;
    const idx = all.subarray(this.shard.rank * B, (this.shard.rank + 1) * B);
    const flip = allFlips.subarray(this.shard.rank * B, (this.shard.rank + 1) * B);
    this.position++;
    const index = torch.tensor(Int32Array.from(idx), { dtype: 'int64' });
    const f = torch.tensor(flip, { dtype: 'bool' });
    const d = this.data;
    const pick = (plain: Tensor, flipped: Tensor) => {
      const a = plain.indexSelect(0, index);
      const b = flipped.indexSelect(0, index);
      const shape = [B, ...Array(a.ndim - 1).fill(1)];
      return torch.where(f.view(...shape), b, a);
    };
    return {
      codes: pick(d.codes, d.codes_flip).to('int64'),
      mean: pick(d.mean, d.mean_flip),
      std: pick(d.std, d.std_flip),
      labels: d.labels.indexSelect(0, index),
    };
  }
}
