// Token caches: a dataset encoded once by a VQ + KL tokenizer pair, so generator training never
// re-runs the tokenizers. Like MAR's cached latents (main_cache.py), the KL posterior is kept as
// mean and std (training draws a fresh sample each time), and every image is also encoded
// flipped, so flip augmentation stays possible. Shards are safetensors files plus meta.json.
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ImageSet } from '../data/dataset.ts';
import { DataLoader } from '../data/loader.ts';
import { fsyncDir, writeFileAtomic } from '../io/atomic_file.ts';
import { readJsonFile } from '../io/json_file.ts';
import type { AutoencoderKL } from '../tokenizers/kl.ts';
import type { VQModel } from '../tokenizers/vq.ts';
import type { Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';

export interface CacheMeta {
  format: 'd2c-token-cache/1';
  dataset: string;
  classes: string[];
  count: number;
  /** Side and channels of the encoded images (absent in caches written before d2c recorded them). */
  imageSize?: number;
  channels?: number;
  /** Grid side: codes and latents are grid×grid. */
  grid: number;
  latentChannels: number;
  codebookSize: number;
  /** The KL scale factor the latents are multiplied by before stage-2 training. */
  scaleFactor: number;
  vq: string;
  kl: string;
  shards: { file: string; count: number }[];
}

/** One shard's tensors: codes [N, L] int32, mean/std [N, D, g, g] float32, labels [N] int64, each also `_flip`. */
export const SHARD_KEYS = ['codes', 'codes_flip', 'mean', 'mean_flip', 'std', 'std_flip', 'labels'] as const;

export interface BuildCacheOptions {
  vq: VQModel;
  kl: AutoencoderKL;
  vqDir: string;
  klDir: string;
  set: ImageSet;
  outDir: string;
  batchSize?: number;
  shardSize?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Encodes `set` (in order) into `outDir`; writes to a temp folder and renames it into place. */
export async function buildTokenCache(o: BuildCacheOptions): Promise<CacheMeta> {
  const bs = o.batchSize ?? 250;
  const shardSize = o.shardSize ?? 10000;
  if (shardSize % bs !== 0) throw new Error(`cache: shard size ${shardSize} must be a multiple of the batch size ${bs}`);
  const tmp = `${o.outDir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  o.vq.eval();
  o.kl.eval();
  const device = o.vq.parameters()[0].device; // the tokenizers' device; the cache itself is kept on the host
  const host = (t: Tensor) => (device === 'cpu' ? t : t.cpu());
  // File sets decode in the loader's workers, the next batch while this one is encoded.
  const loader = new DataLoader(o.set, { batchSize: bs, seed: 0, shuffle: false, dropLast: false });
  const total = o.set.labels.length;
  const shards: CacheMeta['shards'] = [];
  let pending: Record<string, Tensor[]> = Object.fromEntries(SHARD_KEYS.map((k) => [k, []]));
  let pendingCount = 0;
  let done = 0;
  let grid = 0;
  const flush = () => {
    const file = `shard-${String(shards.length).padStart(5, '0')}.safetensors`;
    torch.tidy(() => {
      const tensors = new Map(SHARD_KEYS.map((k) => [k, torch.cat(pending[k], 0)]));
      torch.saveSafetensors(join(tmp, file), tensors);
    });
    torch.dispose(Object.values(pending));
    shards.push({ file, count: pendingCount });
    pending = Object.fromEntries(SHARD_KEYS.map((k) => [k, []]));
    pendingCount = 0;
  };
  try {
    while (done < total) {
      const batch = await loader.next();
      const out = torch.noGrad(() =>
        torch.tidy(() => {
          const images = device === 'cpu' ? batch.images : batch.images.to(device);
          const flipped = images.flip(3);
          const enc = (x: Tensor) => {
            const codes = o.vq.encodeCodes(x); // [B, g, g]
            const post = o.kl.encode(x);
            return { codes: host(codes.flatten(1).to('int32')), mean: host(post.mean), std: host(post.std) };
          };
          const a = enc(images);
          const b = enc(flipped);
          return {
            codes: a.codes,
            codes_flip: b.codes,
            mean: a.mean,
            mean_flip: b.mean,
            std: a.std,
            std_flip: b.std,
            labels: batch.labels.clone(),
          };
        }),
      );
      batch.images.dispose();
      batch.labels.dispose();
      grid = out.mean.shape[2];
      for (const k of SHARD_KEYS) pending[k].push(torch.keep(out[k]));
      pendingCount += out.labels.shape[0];
      done += out.labels.shape[0];
      if (pendingCount >= shardSize) flush();
      o.onProgress?.(done, total);
    }
    if (pendingCount > 0) flush();
  } finally {
    await loader.close();
  }
  const meta: CacheMeta = {
    format: 'd2c-token-cache/1',
    dataset: o.set.name,
    classes: [...o.set.classes],
    count: total,
    imageSize: o.set.size,
    channels: o.set.channels,
    grid,
    latentChannels: o.kl.config.embedDim,
    codebookSize: o.vq.config.codebookSize,
    scaleFactor: o.kl.config.scaleFactor,
    vq: o.vqDir,
    kl: o.klDir,
    shards,
  };
  writeFileAtomic(join(tmp, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
  rmSync(o.outDir, { recursive: true, force: true });
  renameSync(tmp, o.outDir);
  fsyncDir(dirname(o.outDir));
  return meta;
}

export function readCacheMeta(dir: string): CacheMeta {
  const path = join(dir, 'meta.json');
  if (!existsSync(path)) throw new Error(`${dir} is not a token cache (no meta.json); build one with \`d2c cache\``);
  const meta = readJsonFile(path) as CacheMeta;
  if (meta.format !== 'd2c-token-cache/1') throw new Error(`${path}: unknown cache format ${JSON.stringify(meta.format)}`);
  return meta;
}

/** Loads every shard into memory: tensors concatenated over shards, by key. */
export function loadTokenCache(dir: string): { meta: CacheMeta; data: Record<(typeof SHARD_KEYS)[number], Tensor> } {
  const meta = readCacheMeta(dir);
  const data = torch.tidy(() => {
    const parts = meta.shards.map((s) => {
      const path = join(dir, s.file);
      if (!existsSync(path)) throw new Error(`token cache ${dir}: shard ${s.file} is missing`);
      return torch.loadSafetensors(path);
    });
    const out = Object.fromEntries(
      SHARD_KEYS.map((k) => [
        k,
        torch.cat(
          parts.map((p) => p.get(k) as Tensor),
          0,
        ),
      ]),
    );
    for (const k of SHARD_KEYS) {
      if (out[k].shape[0] !== meta.count)
        throw new Error(`token cache ${dir}: ${k} has ${out[k].shape[0]} rows, meta says ${meta.count}`);
    }
    return out;
  });
  return { meta, data: torch.keep(data) as Record<(typeof SHARD_KEYS)[number], Tensor> };
}
