// The training data loader: seeded shuffling, batches as float [B, C, H, W] in [-1, 1] plus int64
// labels, optional horizontal flips, and a small state ({epoch, position}) to save and restore.
// Every random choice is a pure function of (seed, epoch, position) — the permutation of epoch e
// comes from Rng(seed, e), the flip of a sample from Rng(flipSeed, e, index in the epoch) — so
// resuming from a saved state replays exactly the batches an uninterrupted run would have seen.
import { availableParallelism } from 'node:os';
import * as torch from '../torch/index.ts';
import type { ImageSet } from './dataset.ts';
import { DecodePool } from './decode_pool.ts';
import { decodeImage } from './image_folder.ts';
import { permutation, Rng } from './rng.ts';

export interface LoaderOptions {
  batchSize: number;
  seed: number;
  /** Shuffle each epoch (default true); false gives file order. */
  shuffle?: boolean;
  /** Random horizontal flips with p = 0.5 (default false). */
  hflip?: boolean;
  /** Seed of the flip stream (default derived from seed). */
  flipSeed?: number;
  /** Drop the last incomplete batch of an epoch (default true, as MAR's training loader). */
  dropLast?: boolean;
  /** Decoding worker threads for file sets (default min(4, cores)); 0 decodes on the main thread. */
  workers?: number;
  /**
   * File sets: start decoding the next batch as soon as one is handed out (default true), so the
   * training step runs while the workers decode and the step does not wait on decoding.
   */
  prefetch?: boolean;
  /** Where batches go (default cpu). */
  device?: torch.Device;
  /** Warnings about unreadable files (default console.warn). */
  warn?: (message: string) => void;
  /**
   * Data-parallel training: batchSize is the global batch, and this rank gets its contiguous
   * 1/worldSize of every batch of every epoch's permutation (flips as the single process draws them).
   */
  shard?: { rank: number; worldSize: number };
}

/** Where the loader stands: the next batch is batch `position` of epoch `epoch`. */
export interface LoaderState {
  seed: number;
  epoch: number;
  position: number;
}

export interface Batch {
  /** float32 [B, C, H, W] in [-1, 1]; the caller owns it (dispose, or create it inside a tidy). */
  images: torch.Tensor;
  /** int64 [B]. */
  labels: torch.Tensor;
  /** Dataset index of each sample. */
  indices: Int32Array;
  /** 1 where the sample was flipped. */
  flipped: Uint8Array;
  epoch: number;
  position: number;
}

/** uint8 → float32 exactly as ToTensor + Normalize(0.5, 0.5): (x / 255 − 0.5) / 0.5 in float32. */
const TO_UNIT = Float32Array.from({ length: 256 }, (_, x) => Math.fround(Math.fround(Math.fround(x / 255) - 0.5) / 0.5));

interface Plan {
  epoch: number;
  position: number;
  indices: Int32Array;
  flipped: Uint8Array;
}

interface Ahead {
  plan: Plan;
  before: { epoch: number; position: number };
  pixels: Promise<Uint8Array[]>;
}

export class DataLoader {
  readonly batchSize: number;
  readonly seed: number;
  private readonly opts: Required<Omit<LoaderOptions, 'device' | 'warn' | 'flipSeed' | 'shard'>> & { flipSeed: number };
  /** The batch being decoded ahead, and where the loader stood before it was planned. */
  private ahead: Ahead | null = null;
  private epoch = 0;
  private position = 0;
  private order: { epoch: number; perm: Int32Array } | null = null;
  private pool: DecodePool | null = null;
  private readonly bad = new Set<number>();
  private readonly warn: (m: string) => void;
  private readonly device: torch.Device;
  private readonly shard: { rank: number; worldSize: number };

  constructor(
    readonly set: ImageSet,
    opts: LoaderOptions,
  ) {
    const { batchSize, seed } = opts;
    if (!Number.isInteger(batchSize) || batchSize <= 0)
      throw new Error(`DataLoader: batchSize must be a positive integer, got ${batchSize}`);
    if (!Number.isSafeInteger(seed)) throw new Error(`DataLoader: seed must be an integer, got ${seed}`);
    const dropLast = opts.dropLast ?? true;
    if (dropLast && set.labels.length < batchSize)
      throw new Error(`DataLoader: ${set.name} has ${set.labels.length} samples, fewer than one batch of ${batchSize}`);
    this.batchSize = batchSize;
    this.seed = seed;
    this.opts = {
      batchSize,
      seed,
      shuffle: opts.shuffle ?? true,
      hflip: opts.hflip ?? false,
      flipSeed: opts.flipSeed ?? seed + 0x5f11,
      dropLast,
      workers: opts.workers ?? Math.min(4, availableParallelism()),
      prefetch: opts.prefetch ?? true,
    };
    this.device = opts.device ?? 'cpu';
    this.shard = opts.shard ?? { rank: 0, worldSize: 1 };
    if (batchSize % this.shard.worldSize !== 0)
      throw new Error(`DataLoader: batch size ${batchSize} does not divide evenly over ${this.shard.worldSize} processes`);
    this.warn = opts.warn ?? ((m: string) => console.warn(m));
    if (set.kind === 'files' && this.opts.workers > 0) this.pool = new DecodePool(set.size, set.channels, this.opts.workers);
  }

  get batchesPerEpoch(): number {
    const n = this.set.labels.length;
    return this.opts.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** The state of the batches handed out so far (a batch decoded ahead is not counted). */
  state(): LoaderState {
    const at = this.ahead?.before ?? { epoch: this.epoch, position: this.position };
    return { seed: this.seed, epoch: at.epoch, position: at.position };
  }

  /** Continues from a saved state; the seed must match (other seeds give other batches). */
  restore(s: LoaderState): void {
    if (s.seed !== this.seed)
      throw new Error(`DataLoader.restore: state is for seed ${s.seed}, this loader has seed ${this.seed}`);
    if (!Number.isInteger(s.epoch) || s.epoch < 0) throw new Error(`DataLoader.restore: bad epoch ${s.epoch}`);
    if (!Number.isInteger(s.position) || s.position < 0 || s.position > this.batchesPerEpoch)
      throw new Error(`DataLoader.restore: position ${s.position} outside 0..${this.batchesPerEpoch}`);
    this.ahead = null; // planned from the old position: abandoned (its decoding settles unobserved)
    this.epoch = s.epoch;
    this.position = s.position;
  }

  private permutationOf(epoch: number): Int32Array {
    if (this.order?.epoch !== epoch) {
      const n = this.set.labels.length;
      const perm = this.opts.shuffle ? permutation(n, new Rng(this.seed, epoch)) : Int32Array.from({ length: n }, (_, i) => i);
      this.order = { epoch, perm };
    }
    return this.order.perm;
  }

  /** Which samples (and flips) the next batch holds; advances the state. */
  private plan(): Plan {
    if (this.position >= this.batchesPerEpoch) {
      this.epoch++;
      this.position = 0;
    }
    const { epoch, position } = this;
    const perm = this.permutationOf(epoch);
    const start = position * this.batchSize;
    const global = perm.slice(start, Math.min(start + this.batchSize, perm.length));
    const per = Math.ceil(global.length / this.shard.worldSize);
    const from = Math.min(global.length, this.shard.rank * per);
    const indices = global.slice(from, Math.min(global.length, from + per));
    const flipped = new Uint8Array(indices.length);
    if (this.opts.hflip)
      for (let i = 0; i < indices.length; i++) flipped[i] = new Rng(this.opts.flipSeed, epoch, start + from + i).u32() & 1;
    this.position++;
    return { epoch, position, indices, flipped };
  }

  /**
   * The next batch (file sets are decoded in the worker threads, the following batch already
   * decoding while the caller uses this one). Wraps to the next epoch.
   */
  async next(): Promise<Batch> {
    if (this.set.kind === 'array') return this.assemble(this.plan(), (i) => this.arrayImage(i));
    const cur = this.ahead ?? this.decodeAhead();
    this.ahead = null;
    const pixels = await cur.pixels;
    if (this.opts.prefetch) this.ahead = this.decodeAhead();
    return this.assemble(cur.plan, (_, k) => pixels[k]);
  }

  /** Plans the next batch and starts decoding it. */
  private decodeAhead(): Ahead {
    const before = { epoch: this.epoch, position: this.position };
    const plan = this.plan();
    const pixels = this.decodeFiles(plan.indices);
    // Awaited by next(); one abandoned by restore() or close() must not be an unhandled rejection.
    pixels.catch(() => {});
    return { plan, before, pixels };
  }

  /** The next batch of an in-memory set, synchronously. */
  nextSync(): Batch {
    if (this.set.kind !== 'array')
      throw new Error(`DataLoader.nextSync: ${this.set.name} is decoded from files; use await next()`);
    return this.assemble(this.plan(), (i) => this.arrayImage(i));
  }

  private arrayImage(i: number): Uint8Array {
    if (this.set.kind !== 'array') throw new Error('unreachable');
    const n = this.set.channels * this.set.size * this.set.size;
    return this.set.pixels.subarray(i * n, (i + 1) * n);
  }

  /**
   * Decodes the files of a batch. A file that fails to decode is an error with onCorrupt 'error';
   * with 'skip' it is replaced, with a warning, by the next readable file of the same class, so
   * batches keep their size and class balance.
   */
  private async decodeFiles(indices: Int32Array): Promise<Uint8Array[]> {
    const set = this.set;
    if (set.kind !== 'files') throw new Error('unreachable');
    const skip = set.onCorrupt !== 'error';
    const want = Array.from(indices, (i) => this.substitute(i));
    const out: Uint8Array[] = new Array(want.length);
    let todo = want.map((_, k) => k);
    while (todo.length > 0) {
      const paths = todo.map((k) => set.files[want[k]]);
      const results = this.pool
        ? await this.pool.decode(paths)
        : await Promise.all(paths.map((p) => decodeImage(p, set.size, set.channels).catch((e: Error) => `${p}: ${e.message}`)));
      const retry: number[] = [];
      todo.forEach((k, j) => {
        const r = results[j];
        if (typeof r !== 'string') {
          out[k] = r;
          return;
        }
        if (!skip) throw new Error(`cannot decode image ${r}`);
        this.bad.add(want[k]);
        this.warn(`warning: skipping unreadable image ${r}`);
        want[k] = this.substitute(want[k]);
        retry.push(k);
      });
      todo = retry;
    }
    return out;
  }

  /** `i` itself, or the next readable sample of the same class when `i` failed to decode. */
  private substitute(i: number): number {
    const labels = this.set.labels;
    const n = labels.length;
    for (let step = 0; step < n; step++) {
      const j = (i + step) % n;
      if (labels[j] === labels[i] && !this.bad.has(j)) return j;
    }
    throw new Error(`DataLoader: no readable image left in class ${this.set.classes[labels[i]]} of ${this.set.name}`);
  }

  /** Packs uint8 [C, H, W] images into the float batch, flipping along W where planned. */
  private assemble(p: Plan, image: (i: number, k: number) => Uint8Array): Batch {
    const { channels: C, size: S } = this.set;
    const per = C * S * S;
    const B = p.indices.length;
    const data = new Float32Array(B * per);
    for (let k = 0; k < B; k++) {
      const src = image(p.indices[k], k);
      const dst = k * per;
      if (!p.flipped[k]) for (let j = 0; j < per; j++) data[dst + j] = TO_UNIT[src[j]];
      else
        for (let row = 0; row < C * S; row++)
          for (let x = 0; x < S; x++) data[dst + row * S + x] = TO_UNIT[src[row * S + S - 1 - x]];
    }
    const labels = BigInt64Array.from(p.indices, (i) => BigInt(this.set.labels[i]));
    let images = torch.tensor(data, { shape: [B, C, S, S] }); // [B, C, H, W]
    let labelT = torch.tensor(labels, { shape: [B] });
    if (this.device !== 'cpu') {
      const [a, b] = [images.to(this.device), labelT.to(this.device)];
      images.dispose();
      labelT.dispose();
      [images, labelT] = [a, b];
    }
    return { images, labels: labelT, indices: p.indices, flipped: p.flipped, epoch: p.epoch, position: p.position };
  }

  /** Stops the decoding workers. */
  async close(): Promise<void> {
    this.ahead = null;
    await this.pool?.close();
    this.pool = null;
  }
}
