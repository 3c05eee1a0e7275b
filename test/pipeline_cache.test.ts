// Token caches: what `d2c cache` writes is what the tokenizers compute, and generator batches
// drawn from it are seeded and resumable.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadTokenCache, readCacheMeta } from '../src/pipeline/cache.ts';
import { loadPart } from '../src/pipeline/parts.ts';
import type { AutoencoderKL } from '../src/tokenizers/kl.ts';
import type { VQModel } from '../src/tokenizers/vq.ts';
import * as torch from '../src/torch/index.ts';
import { CacheBatches } from '../src/train/cache_batches.ts';
import { tinyCache, tinySet } from './helpers/tiny_pipeline.ts';

torch.setNumThreads(1);
const root = mkdtempSync(join(tmpdir(), 'd2c-cache-'));
let dirs: { vq: string; kl: string; cache: string };
before(async () => {
  dirs = await tinyCache(root, 32);
});
after(() => rmSync(root, { recursive: true, force: true }));

test('the cache holds the tokenizers’ codes and posteriors, plain and flipped, in dataset order', () => {
  const meta = readCacheMeta(dirs.cache);
  assert.equal(meta.count, 32);
  assert.equal(meta.grid, 8);
  assert.equal(meta.shards.length, 2);
  assert.equal(meta.codebookSize, 64);
  const { data } = loadTokenCache(dirs.cache);
  const vq = loadPart<VQModel>(dirs.vq).model;
  const kl = loadPart<AutoencoderKL>(dirs.kl).model;
  const set = tinySet(32);
  torch.noGrad(() =>
    torch.tidy(() => {
      const x = torch.tensor(
        Float32Array.from(set.pixels, (p) => p / 127.5 - 1),
        { shape: [32, 1, 32, 32] },
      );
      const codes = vq.encodeCodes(x).flatten(1);
      assert.deepEqual(data.codes.toArray(), codes.toArray());
      assert.deepEqual(data.codes_flip.toArray(), vq.encodeCodes(x.flip(3)).flatten(1).toArray());
      const post = kl.encode(x);
      assert.ok(data.mean.sub(post.mean).abs().max().item() < 1e-5);
      assert.ok(data.std.sub(post.std).abs().max().item() < 1e-5);
      assert.deepEqual(data.labels.toArray(), Array.from(set.labels));
    }),
  );
  torch.dispose(Object.values(data));
});

test('cache batches are seeded, pick flips per sample, and resume exactly', () => {
  const { data } = loadTokenCache(dirs.cache);
  const a = new CacheBatches(data, 8, 7);
  const seen = torch.tidy(() => [0, 1, 2, 3, 4, 5].map(() => a.next().codes.toArray()));
  const b = new CacheBatches(data, 8, 7);
  torch.tidy(() => {
    for (let i = 0; i < 3; i++) b.next();
  });
  const c = new CacheBatches(data, 8, 7);
  c.restore(b.state());
  const rest = torch.tidy(() => [3, 4, 5].map(() => c.next().codes.toArray()));
  assert.deepEqual(rest, seen.slice(3));
  assert.equal(c.state().epoch, 1); // 4 batches per epoch
  const other = torch.tidy(() => new CacheBatches(data, 8, 8).next().codes.toArray());
  assert.notDeepEqual(other, seen[0]);
  torch.dispose(Object.values(data));
});
