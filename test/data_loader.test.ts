// The seeded loader (determinism, resume, flips, value range), the synthetic set and PNG output.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import sharp from 'sharp';
import { classCounts, imageAt } from '../src/data/dataset.ts';
import { type Batch, DataLoader } from '../src/data/loader.ts';
import { encodePng, makeGrid, saveImageGrid } from '../src/data/png.ts';
import { syntheticImageSet } from '../src/data/synthetic.ts';
import * as torch from '../src/torch/index.ts';

const set = syntheticImageSet({ count: 50, seed: 3, channels: 3 });

/** Indices, flips and a checksum of the pixels of the next `n` batches; disposes the tensors. */
function take(loader: DataLoader, n: number): { indices: number[]; flipped: number[]; sum: number; labels: number[] }[] {
  const out = [];
  for (let i = 0; i < n; i++) {
    const b: Batch = loader.nextSync();
    const sum = torch.tidy(() =>
      b.images
        .mul(torch.arange(b.images.numel).view(...b.images.shape))
        .sum()
        .item(),
    );
    out.push({ indices: [...b.indices], flipped: [...b.flipped], sum, labels: b.labels.toArray() });
    b.images.dispose();
    b.labels.dispose();
  }
  return out;
}

describe('synthetic set', () => {
  test('same seed → same bytes; other seed → other bytes; balanced classes; patterns differ by class', () => {
    const again = syntheticImageSet({ count: 50, seed: 3, channels: 3 });
    assert.deepEqual(Buffer.from(again.pixels), Buffer.from(set.pixels));
    const other = syntheticImageSet({ count: 50, seed: 4, channels: 3 });
    assert.notDeepEqual(Buffer.from(other.pixels), Buffer.from(set.pixels));
    assert.deepEqual(classCounts(set), new Array(10).fill(5));
    const g = syntheticImageSet({ count: 10, seed: 1, channels: 1 });
    const imgs = Array.from({ length: 10 }, (_, k) => Buffer.from(imageAt(g, k)));
    for (let a = 0; a < 10; a++) {
      assert.ok(
        imgs[a].some((v) => v > 0),
        `class ${a} is blank`,
      );
      for (let b = a + 1; b < 10; b++) assert.notDeepEqual(imgs[a], imgs[b]);
    }
    assert.throws(() => syntheticImageSet({ count: 5, seed: 0, channels: 2 as 1 }), /channels must be 1 or 3, got 2/);
  });
});

describe('DataLoader', () => {
  test('batches: [B, C, H, W] float32 in [-1, 1], int64 labels matching the set', () => {
    const loader = new DataLoader(set, { batchSize: 8, seed: 0 });
    const b = loader.nextSync();
    assert.deepEqual(b.images.shape, [8, 3, 32, 32]);
    assert.equal(b.images.dtype, 'float32');
    assert.equal(b.labels.dtype, 'int64');
    assert.deepEqual(
      b.labels.toArray(),
      [...b.indices].map((i) => set.labels[i]),
    );
    assert.equal(b.images.min().item(), -1);
    assert.equal(b.images.max().item() <= 1, true);
    // Pixel value 255 → exactly 1, 0 → exactly -1 (ToTensor + Normalize(0.5, 0.5)).
    const first = imageAt(set, b.indices[0]);
    const got = b.images.select(0, 0).toFloat32Array();
    for (let j = 0; j < first.length; j += 97)
      assert.equal(got[j], Math.fround(Math.fround(Math.fround(first[j] / 255) - 0.5) / 0.5));
    b.images.dispose();
    b.labels.dispose();
  });

  test('deterministic for a seed; different seeds shuffle differently; each epoch is a permutation', () => {
    const a = take(new DataLoader(set, { batchSize: 8, seed: 11, hflip: true }), 12);
    const b = take(new DataLoader(set, { batchSize: 8, seed: 11, hflip: true }), 12);
    assert.deepEqual(a, b);
    const c = take(new DataLoader(set, { batchSize: 8, seed: 12, hflip: true }), 12);
    assert.notDeepEqual(
      a.map((x) => x.indices),
      c.map((x) => x.indices),
    );
    // 50 samples, batch 8, dropLast → 6 batches per epoch, 48 distinct samples each epoch.
    const epoch0 = a.slice(0, 6).flatMap((x) => x.indices);
    assert.equal(new Set(epoch0).size, 48);
    const epoch1 = a.slice(6, 12).flatMap((x) => x.indices);
    assert.notDeepEqual(epoch0, epoch1);
    const flips = a.flatMap((x) => x.flipped);
    assert.ok(flips.includes(0) && flips.includes(1));
  });

  test('resumes from a saved state with exactly the batches of an uninterrupted run', () => {
    const full = take(new DataLoader(set, { batchSize: 8, seed: 5, hflip: true }), 10);
    const first = new DataLoader(set, { batchSize: 8, seed: 5, hflip: true });
    take(first, 4);
    const saved = JSON.parse(JSON.stringify(first.state()));
    assert.deepEqual(saved, { seed: 5, epoch: 0, position: 4 });
    const resumed = new DataLoader(set, { batchSize: 8, seed: 5, hflip: true });
    resumed.restore(saved);
    assert.deepEqual(take(resumed, 6), full.slice(4));
    assert.throws(() => resumed.restore({ seed: 6, epoch: 0, position: 0 }), /state is for seed 6, this loader has seed 5/);
    assert.throws(() => resumed.restore({ seed: 5, epoch: 0, position: 99 }), /position 99 outside 0\.\.6/);
  });

  test('a flipped sample is the mirror image of the stored one', () => {
    const loader = new DataLoader(set, { batchSize: 50, seed: 2, hflip: true, dropLast: false });
    const b = loader.nextSync();
    const k = b.flipped.indexOf(1);
    const img = b.images.select(0, k); // [C, H, W]
    const ref = torch
      .tensor(imageAt(set, b.indices[k]), { shape: [3, 32, 32] })
      .to('float32')
      .div(127.5)
      .sub(1)
      .flip(2);
    assert.ok(img.sub(ref).abs().max().item() < 1e-6);
    for (const t of [img, ref, b.images, b.labels]) t.dispose();
  });

  test('bad options are named', () => {
    assert.throws(() => new DataLoader(set, { batchSize: 0, seed: 0 }), /batchSize must be a positive integer, got 0/);
    assert.throws(() => new DataLoader(set, { batchSize: 64, seed: 0 }), /50 samples, fewer than one batch of 64/);
  });

  test('live tensors stay flat over many batches', () => {
    const loader = new DataLoader(set, { batchSize: 8, seed: 0, hflip: true });
    const before = torch.liveTensors();
    for (let i = 0; i < 30; i++) torch.tidy(() => loader.nextSync().images.mean().item());
    assert.equal(torch.liveTensors(), before);
  });
});

describe('PNG output', () => {
  const dir = mkdtempSync(join(tmpdir(), 'd2c-png-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('grid layout follows make_grid; same input → same bytes; pixels round-trip', async () => {
    const g = new torch.Generator(9);
    const x = torch.rand([5, 3, 4, 6], { generator: g }).mul(2.4).sub(1.2); // values outside [-1, 1] get clamped
    const p1 = join(dir, 'a.png');
    const p2 = join(dir, 'b.png');
    await saveImageGrid(x, p1, { nrow: 2, padding: 1 });
    await saveImageGrid(x, p2, { nrow: 2, padding: 1 });
    assert.deepEqual(readFileSync(p1), readFileSync(p2));
    const { data, info } = await sharp(p1).raw().toBuffer({ resolveWithObject: true });
    // 2 columns × 3 rows of 6×4 images with 1-pixel padding.
    assert.deepEqual([info.width, info.height, info.channels], [2 * 7 + 1, 3 * 5 + 1, 3]);
    // Pixel (y=0, x=0) of image 3 (row 1, col 1) sits at (1 + 5, 1 + 7).
    const expect = x.select(0, 3).clamp(-1, 1).add(1).div(2).mul(255).add(0.5).clamp(0, 255).to('uint8');
    const e = expect.toTypedArray() as Uint8Array; // [C, 4, 6]
    for (let c = 0; c < 3; c++) assert.equal(data[(6 * info.width + 8) * 3 + c], e[c * 24]);
    assert.equal(data[0], 0); // padding
    x.dispose();
    expect.dispose();
  });

  test('1-channel images give a grayscale PNG', async () => {
    const batch = { data: new Uint8Array(2 * 16).fill(200), count: 2, channels: 1, height: 4, width: 4 };
    const png = await encodePng(makeGrid(batch, { padding: 0 }));
    const meta = await sharp(png).metadata();
    assert.equal(meta.channels, 1);
    assert.equal(meta.width, 8);
  });
});
