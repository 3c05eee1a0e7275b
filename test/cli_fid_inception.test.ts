// Inception FID end to end, with the inception_fid fixture's formula weights in a converted-weights
// folder: `d2c fid A B --features inception` on two small folders (RGB, and one grayscale image of
// another size) equals the Fréchet distance of pool3 features computed the pytorch-fid way (each
// image's own pixels / 255, InceptionV3.forward) in float64 by an independent exact method
// (helpers/frechet_lowrank.ts: tr sqrtm(S1·S2) as the nuclear norm of A1·A2ᵀ); `d2c stats` writes
// the same mu/sigma; ADM `.npz` files (mu/sigma, arr_0 images) read as references; every bad
// input gives a one-line error.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { statsOfPath } from '../src/eval/fid_inputs.ts';
import { featureStats, saveStats } from '../src/eval/frechet.ts';
import { inceptionBatchFromFiles, listImageFiles } from '../src/eval/image_files.ts';
import type { InceptionV3 } from '../src/eval/inception.ts';
import { inceptionFeatureNetwork, loadInception } from '../src/eval/inception_network.ts';
import { loadNpz, saveNpz } from '../src/eval/npz.ts';
import * as torch from '../src/torch/index.ts';
import { frechetLowRank } from './helpers/frechet_lowrank.ts';
import { writeFormulaInceptionDir } from './helpers/inception_formula.ts';
import { tinyModel } from './helpers/tiny_pipeline.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'd2c-fid-inception-'));
const W = join(tmp, 'weights');
const A = join(tmp, 'a');
const B = join(tmp, 'b');
after(() => rmSync(tmp, { recursive: true, force: true }));

function d2c(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync('npx', ['tsx', 'src/cli/main.ts', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function assertCleanFailure(r: { code: number | null; stderr: string }, message: RegExp): void {
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /^d2c: [^\n]*\n$/, `not one d2c: line:\n${r.stderr}`);
  assert.match(r.stderr, message);
}

interface Img {
  w: number;
  h: number;
  c: 1 | 3;
  pixels: Uint8Array; // HWC
}

/** A deterministic image: smooth gradients plus hashed noise, so features differ between images. */
function makeImage(seed: number, w: number, h: number, c: 1 | 3): Img {
  const pixels = new Uint8Array(w * h * c);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let k = 0; k < c; k++) {
        const noise = (Math.imul(seed * 7919 + y * 131 + x * 17 + k * 3, 0x9e3779b1) >>> 24) & 0x3f;
        pixels[(y * w + x) * c + k] = (((x * (seed + 3) + y * (k + 1) * 5) % 192) + noise) & 0xff;
      }
  return { w, h, c, pixels };
}

async function writePng(path: string, im: Img): Promise<void> {
  await sharp(Buffer.from(im.pixels), { raw: { width: im.w, height: im.h, channels: im.c } })
    .png()
    .toFile(path);
}

const setA = [1, 2, 3, 4].map((s) => makeImage(s, 40, 40, 3));
const setB = [...[5, 6, 7].map((s) => makeImage(s, 40, 40, 3)), makeImage(8, 52, 36, 1)];
let net: InceptionV3;
let refA: number[][];
let refB: number[][];

/** pool3 of each image alone, as pytorch-fid computes it: RGB (gray repeated) / 255 → forward. */
function referenceFeatures(images: Img[]): number[][] {
  return images.map((im) =>
    torch.noGrad(() =>
      torch.tidy(() => {
        let x = torch.fromBuffer(im.pixels, [im.h, im.w, im.c], 'uint8').permute(2, 0, 1).unsqueeze(0); // [1, c, H, W]
        if (im.c === 1) x = x.expand(1, 3, im.h, im.w);
        return net.forward(x.to('float32').div(255)).pool3.to('float64').toArray();
      }),
    ),
  );
}

before(async () => {
  torch.setNumThreads(2);
  writeFormulaInceptionDir(W);
  mkdirSync(A);
  mkdirSync(B);
  await Promise.all(setA.map((im, i) => writePng(join(A, `img${i}.png`), im)));
  await Promise.all(setB.map((im, i) => writePng(join(B, `img${i}.png`), im)));
  net = loadInception(W);
  refA = referenceFeatures(setA);
  refB = referenceFeatures(setB);
});

describe('Inception FID', () => {
  test('d2c fid A B --features inception equals the float64 Fréchet distance of pytorch-fid pool3 features (1e-3)', () => {
    const expected = frechetLowRank(refA, refB);
    assert.ok(expected > 0, `reference FID ${expected}`);
    const r = d2c('fid', A, B, '--features', 'inception', '--inception', W, '--threads', '2');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop() as string);
    assert.equal(out.network, 'inception');
    assert.ok(Math.abs(out.fid - expected) <= 1e-3 * expected, `d2c fid ${out.fid} vs reference ${expected}`);
  });

  test('d2c stats writes mu/sigma as pytorch-fid would and prints the IS; the .npz is a valid reference', async () => {
    const npz = join(tmp, 'a_stats.npz');
    const r = d2c('stats', A, '--out', npz, '--inception', W);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop() as string);
    assert.equal(out.n, 4);
    assert.ok(out.is_inception >= 1 && Number.isFinite(out.is_inception_std), JSON.stringify(out));
    const arrays = loadNpz(npz);
    const ref = featureStats(torch.tensor(refA).to('float64'));
    torch.tidy(() => {
      const mu = arrays.get('mu') as torch.Tensor;
      const sigma = arrays.get('sigma') as torch.Tensor;
      assert.equal(mu.dtype, 'float64');
      assert.deepEqual(sigma.shape, [2048, 2048]);
      assert.ok(mu.sub(ref.mu).abs().max().item() <= 1e-4 * Math.max(1, ref.mu.abs().max().item()), 'mu');
      assert.ok(sigma.sub(ref.sigma).abs().max().item() <= 1e-4 * Math.max(1, ref.sigma.abs().max().item()), 'sigma');
    });
    // Read back as a reference (mu, sigma as pytorch-fid and the ADM evaluator store them).
    const fromNpz = await statsOfPath(npz, inceptionFeatureNetwork(net), { input: { kind: 'inception' } });
    torch.tidy(() =>
      assert.equal(
        fromNpz.sigma
          .sub(arrays.get('sigma') as torch.Tensor)
          .abs()
          .max()
          .item(),
        0,
      ),
    );
    torch.dispose([[...arrays.values()], ref, fromNpz]);
  });

  test('an ADM-style .npz of images (arr_0, [N, H, W, 3] uint8) gives the folder’s statistics', async () => {
    const npz = join(tmp, 'a_images.npz');
    const arr = torch.fromBuffer(Buffer.concat(setA.map((im) => Buffer.from(im.pixels))), [4, 40, 40, 3], 'uint8');
    saveNpz(npz, { arr_0: arr });
    arr.dispose();
    // Memory is flat over batches: at each batch's end only the kept outputs (features, probs) are new.
    const live: number[] = [];
    const s = await statsOfPath(npz, inceptionFeatureNetwork(net), {
      input: { kind: 'inception' },
      batchSize: 1,
      onProgress: (done) => live.push(torch.liveTensors() - 2 * done),
    });
    assert.equal(live.length, 4);
    assert.ok(
      live.every((v) => v === live[0]),
      `live tensors beyond the kept outputs grow per batch: ${live}`,
    );
    const ref = featureStats(torch.tensor(refA).to('float64'));
    torch.tidy(() => assert.ok(s.mu.sub(ref.mu).abs().max().item() <= 1e-4 * Math.max(1, ref.mu.abs().max().item())));
    torch.dispose([s, ref]);
  });
});

describe('d2c eval --features inception', () => {
  test('scores any model folder against an .npz of reference statistics (FID and IS; KID needs images)', async () => {
    const model = await tinyModel(join(tmp, 'tiny'));
    const ref = join(tmp, 'ref_stats.npz');
    const stats = featureStats(torch.tensor(refA).to('float64'));
    saveStats(ref, stats);
    torch.dispose(stats);
    const out = join(tmp, 'eval');
    const r = d2c(
      'eval',
      '--model',
      model,
      '--features',
      'inception',
      '--inception',
      W,
      '--reference',
      ref,
      '--n',
      '3',
      '--batch-size',
      '3',
      '--out',
      out,
    );
    assert.equal(r.code, 0, r.stderr);
    const m = JSON.parse(r.stdout.trim().split('\n').pop() as string);
    assert.ok(Number.isFinite(m.fid_inception) && m.fid_inception > 0, JSON.stringify(m));
    assert.ok(m.is_inception >= 1, JSON.stringify(m));
    assert.equal(m.kid_inception, undefined);
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    assert.equal(report.network, 'inception');
    assert.equal(report.referenceN, null);
    assert.equal(report.meta.reference, ref);
  });
});

describe('bad input gives one clear line', () => {
  test('folders: missing, empty, one image, a non-image file, an undecodable image', async () => {
    assert.throws(() => listImageFiles(join(tmp, 'nope')), /nope: no such folder/);
    const empty = join(tmp, 'empty');
    mkdirSync(empty);
    assert.throws(() => listImageFiles(empty), /empty: the folder has no images \(\.jpg, \.jpeg, \.png, \.webp\)/);
    const one = join(tmp, 'one');
    mkdirSync(one);
    await writePng(join(one, 'x.png'), setA[0]);
    assert.throws(() => listImageFiles(one), /one: found 1 image; need at least 2 for a covariance/);
    const mixed = join(tmp, 'mixed');
    mkdirSync(mixed);
    await writePng(join(mixed, 'x.png'), setA[0]);
    await writePng(join(mixed, 'y.png'), setA[1]);
    writeFileSync(join(mixed, 'notes.txt'), 'hello');
    assert.throws(() => listImageFiles(mixed), /mixed\/notes\.txt is not an image \(expected \.jpg, \.jpeg, \.png, \.webp\)/);
    const corrupt = join(tmp, 'corrupt');
    mkdirSync(corrupt);
    await writePng(join(corrupt, 'x.png'), setA[0]);
    writeFileSync(join(corrupt, 'y.png'), 'not a png');
    await assert.rejects(inceptionBatchFromFiles(listImageFiles(corrupt), 0, 2), /corrupt\/y\.png is not a readable image/);
  });

  test('.npz: without mu/sigma or arr_0, with only mu, with statistics of another network', async () => {
    const inet = inceptionFeatureNetwork(net);
    const o = { input: { kind: 'inception' } as const };
    const other = join(tmp, 'other.npz');
    saveNpz(other, { features: torch.zeros([3, 4]) });
    await assert.rejects(
      statsOfPath(other, inet, o),
      /other\.npz has arrays \[features\]; expected mu and sigma \(FID statistics\) or arr_0/,
    );
    const muOnly = join(tmp, 'mu_only.npz');
    saveNpz(muOnly, { mu: torch.zeros([2048], { dtype: 'float64' }) });
    await assert.rejects(statsOfPath(muOnly, inet, o), /mu_only\.npz has mu but no sigma/);
    const small = join(tmp, 'fmnist_stats.npz');
    saveNpz(small, { mu: torch.zeros([128], { dtype: 'float64' }), sigma: torch.eye(128, { dtype: 'float64' }) });
    await assert.rejects(
      statsOfPath(small, inet, o),
      /holds mu \[128\], sigma \[128, 128\]; the inception network's statistics are mu \[2048\]/,
    );
    await assert.rejects(statsOfPath(join(tmp, 'absent.npz'), inet, o), /absent\.npz: no such file/);
  });

  test('the CLI prints one d2c: line for missing weights and for a non-image file', () => {
    assertCleanFailure(
      d2c('fid', A, B, '--features', 'inception', '--inception', join(tmp, 'no-weights')),
      /pt_inception-2015-12-05-6726825d\.pth/,
    );
    const mixed = join(tmp, 'mixed');
    assertCleanFailure(d2c('stats', mixed, '--out', join(tmp, 'x.npz'), '--inception', W), /notes\.txt is not an image/);
  });
});
