// IDX reader and Fashion-MNIST loader: a generated file always, the real files when installed.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { classCounts, imageAt } from '../src/data/dataset.ts';
import { FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, fashionMnistAvailable, loadFashionMnist } from '../src/data/fashion_mnist.ts';
import { encodeIdx, parseIdx, readIdx } from '../src/data/idx.ts';

const tmp = mkdtempSync(join(tmpdir(), 'd2c-idx-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('IDX reader on generated files', () => {
  const data = Uint8Array.from({ length: 3 * 4 * 5 }, (_, i) => (i * 7) % 256);
  const bytes = encodeIdx([3, 4, 5], data);

  test('header bytes follow the format', () => {
    assert.deepEqual([...bytes.subarray(0, 8)], [0, 0, 8, 3, 0, 0, 0, 3]);
    assert.equal(bytes.length, 4 + 12 + 60);
  });

  test('raw and gzipped files parse to the same dims and data', () => {
    writeFileSync(join(tmp, 'a-idx3-ubyte'), bytes);
    writeFileSync(join(tmp, 'a-idx3-ubyte.gz'), gzipSync(bytes));
    for (const name of ['a-idx3-ubyte', 'a-idx3-ubyte.gz']) {
      const r = readIdx(join(tmp, name));
      assert.deepEqual(r.dims, [3, 4, 5]);
      assert.deepEqual([...r.data], [...data]);
    }
  });

  test('bad magic, unsupported type, truncation and trailing bytes are named', () => {
    const bad = bytes.slice();
    bad[0] = 0x50;
    assert.throws(() => parseIdx(bad, 'x'), /x: not an IDX file \(magic 50 00 08 03/);
    const f32 = bytes.slice();
    f32[2] = 0x0d;
    assert.throws(() => parseIdx(f32, 'x'), /element type float32 \(0xd\) is not supported/);
    assert.throws(() => parseIdx(bytes.subarray(0, 10), 'x'), /truncated IDX header/);
    assert.throws(
      () => parseIdx(bytes.subarray(0, bytes.length - 1), 'x'),
      /truncated IDX data \(dims \[3, 4, 5\] need 60 bytes/,
    );
    assert.throws(() => parseIdx(Uint8Array.of(...bytes, 1), 'x'), /1 unexpected trailing bytes/);
    assert.throws(() => parseIdx(Uint8Array.of(0, 0), 'x'), /only 2 bytes/);
  });

  test('a truncated gzip file is an error naming the file', () => {
    const gz = gzipSync(bytes);
    const p = join(tmp, 'cut.gz');
    writeFileSync(p, gz.subarray(0, gz.length - 12));
    assert.throws(
      () => readIdx(p),
      (e: Error) => e.message.startsWith(`${p}: `) && /gzip|truncated/.test(e.message),
    );
  });

  test('a generated Fashion-MNIST folder loads padded to 32×32', () => {
    const dir = join(tmp, 'fm');
    const n = 4;
    const imgs = Uint8Array.from({ length: n * 28 * 28 }, (_, i) => 1 + (i % 250));
    const labels = Uint8Array.of(0, 9, 3, 3);
    for (const [prefix, count] of [
      ['train', n],
      ['t10k', n],
    ] as const) {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `${prefix}-images-idx3-ubyte.gz`), gzipSync(encodeIdx([count, 28, 28], imgs)));
      writeFileSync(join(dir, `${prefix}-labels-idx1-ubyte`), encodeIdx([count], labels));
    }
    const set = loadFashionMnist('test', { dir });
    assert.equal(set.size, 32);
    assert.deepEqual([...set.labels], [0, 9, 3, 3]);
    const im = imageAt(set, 1);
    assert.equal(im.length, 32 * 32);
    // Border is zero; the interior is the original image 1 shifted by (2, 2).
    assert.equal(im[0], 0);
    assert.equal(im[32 * 2 + 1], 0);
    assert.equal(im[32 * 31 + 31], 0);
    assert.equal(im[32 * 2 + 2], imgs[28 * 28]);
    assert.equal(im[32 * 29 + 29], imgs[2 * 28 * 28 - 1]);
  });

  test('a missing folder or file says how to get Fashion-MNIST', () => {
    assert.throws(
      () => loadFashionMnist('train', { dir: join(tmp, 'none') }),
      /apt-get install dataset-fashion-mnist.*--data DIR/,
    );
    assert.throws(() => loadFashionMnist('train', { dir: tmp }), /train-images-idx3-ubyte\.gz is missing.*apt-get install/);
    assert.equal(fashionMnistAvailable(tmp), false);
  });
});

const real = fashionMnistAvailable();
describe('Fashion-MNIST (installed files)', { skip: real ? false : `not installed in ${FASHION_MNIST_DIR}` }, () => {
  test('test split: 10000 images, 1000 per class, 32×32 with zero border', () => {
    const set = loadFashionMnist('test');
    assert.equal(set.labels.length, 10000);
    assert.equal(set.channels, 1);
    assert.equal(set.size, 32);
    assert.deepEqual(classCounts(set), new Array(10).fill(1000));
    assert.deepEqual(set.classes, FASHION_MNIST_CLASSES);
    let border = 0;
    let interior = 0;
    for (let i = 0; i < 100; i++) {
      const im = imageAt(set, i);
      for (let y = 0; y < 32; y++)
        for (let x = 0; x < 32; x++) {
          const inside = y >= 2 && y < 30 && x >= 2 && x < 30;
          if (inside) interior += im[y * 32 + x];
          else border += im[y * 32 + x];
        }
    }
    assert.equal(border, 0);
    assert.ok(interior > 0);
    // The first test label of the official t10k file is 9 (Ankle boot).
    assert.equal(set.labels[0], 9);
  });
});
