// NpzFile: an .npz read by offset (stored members a row range at a time, deflated ones whole).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { NpzFile, saveNpz } from '../src/eval/npz.ts';
import * as torch from '../src/torch/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'd2c-npzfile-'));
after(() => rmSync(dir, { recursive: true, force: true }));

for (const compress of [false, true]) {
  test(`NpzFile reads names, info, whole arrays and row ranges (${compress ? 'deflated' : 'stored'})`, () => {
    const path = join(dir, `x_${compress}.npz`);
    torch.tidy(() => {
      const images = torch
        .arange(0, 5 * 4 * 3 * 3)
        .remainder(251)
        .to('uint8')
        .reshape(5, 4, 3, 3);
      const mu = torch.arange(0, 6, 1, { dtype: 'float64' });
      saveNpz(path, { arr_0: images, mu }, { compress });
      const f = new NpzFile(path);
      try {
        assert.deepEqual(f.names.sort(), ['arr_0', 'mu']);
        assert.deepEqual(f.info('arr_0'), { shape: [5, 4, 3, 3], dtype: 'uint8' });
        assert.deepEqual(f.array('mu').toArray(), [0, 1, 2, 3, 4, 5]);
        const rows = f.rows('arr_0', 1, 4);
        assert.deepEqual(rows.shape, [3, 4, 3, 3]);
        assert.equal(
          rows
            .to('int32')
            .sub(images.narrow(0, 1, 3).to('int32'))
            .abs()
            .max()
            .item(),
          0,
        );
        assert.throws(() => f.array('sigma'), /x_(true|false)\.npz: no array 'sigma' \(has arr_0, mu\)/);
      } finally {
        f.close();
      }
    });
  });
}
