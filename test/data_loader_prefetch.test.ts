// The loader decodes an ImageFolder's next batch while the caller uses the current one; its state
// still counts only the batches handed out, so a resumed loader replays the uninterrupted batches.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { FileImageSet } from '../src/data/dataset.ts';
import { scanImageFolder } from '../src/data/image_folder.ts';
import { DataLoader } from '../src/data/loader.ts';
import { makeColourFolder } from './helpers/colour_folder.ts';

let root = '';
let set: FileImageSet;
before(async () => {
  root = mkdtempSync(join(tmpdir(), 'd2c-prefetch-'));
  await makeColourFolder(root, { perClass: 5, junk: true });
  set = await scanImageFolder(root, { size: 16, channels: 3, warn: () => {} });
});
after(() => rmSync(root, { recursive: true, force: true }));

const OPTS = { batchSize: 4, seed: 3, hflip: true, workers: 2 };

async function take(l: DataLoader, n: number): Promise<{ pixels: number[]; indices: number[] }[]> {
  const out = [];
  for (let i = 0; i < n; i++) {
    const b = await l.next();
    out.push({ pixels: Array.from(b.images.toTypedArray() as Float32Array), indices: [...b.indices] });
    b.images.dispose();
    b.labels.dispose();
  }
  return out;
}

test('prefetching gives the same batches as decoding on demand, across epochs', async () => {
  const a = new DataLoader(set, OPTS);
  const b = new DataLoader(set, { ...OPTS, prefetch: false, workers: 0 });
  try {
    assert.deepEqual(await take(a, 7), await take(b, 7)); // 15 images: 3 batches an epoch
  } finally {
    await a.close();
    await b.close();
  }
});

test('state() counts handed-out batches, not the one decoding ahead; restore replays exactly', async () => {
  const straight = new DataLoader(set, OPTS);
  const first = new DataLoader(set, OPTS);
  const resumed = new DataLoader(set, OPTS);
  try {
    const all = await take(straight, 6);
    const head = await take(first, 4);
    assert.deepEqual(first.state(), { seed: 3, epoch: 1, position: 1 });
    resumed.restore(first.state());
    assert.deepEqual([...head, ...(await take(resumed, 2))], all);
  } finally {
    await Promise.all([straight.close(), first.close(), resumed.close()]);
  }
});
