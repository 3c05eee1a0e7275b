// Sampling end to end on a tiny packed model: D2C.fromPretrained/generate, `d2c sample` writing
// byte-identical PNGs for the same arguments, `d2c info`, and the CLI's clear errors.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { D2C } from '../src/pipeline/d2c.ts';
import * as torch from '../src/torch/index.ts';
import { d2c, tinyModel } from './helpers/tiny_pipeline.ts';

torch.setNumThreads(1);
const root = mkdtempSync(join(tmpdir(), 'd2c-sample-'));
let model: string;
before(async () => {
  model = await tinyModel(root);
});
after(() => rmSync(root, { recursive: true, force: true }));

function assertCleanFailure(r: { code: number | null; stderr: string }, message: RegExp): void {
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /^d2c: /);
  assert.match(r.stderr, message);
  assert.doesNotMatch(r.stderr, /\n\s+at /, `stack trace printed:\n${r.stderr}`);
}

test('generate returns images and the stage-1 preview, seeded', () => {
  const m = D2C.fromPretrained(model);
  assert.equal(m.classes.length, 10);
  const progress: string[] = [];
  const a = m.generate({ classes: [0, 3, 9], seed: 1, stage2: { steps: 2 } }, (p) => progress.push(p.stage));
  assert.deepEqual(a.images.shape, [3, 1, 32, 32]);
  assert.deepEqual(a.preview?.shape, [3, 1, 32, 32]);
  assert.deepEqual(a.codes?.shape, [3, 64]);
  assert.ok(a.images.abs().max().item() <= 1);
  assert.ok(progress.includes('stage1') && progress.includes('stage2') && progress.includes('decode'));
  const b = m.generate({ classes: [0, 3, 9], seed: 1, stage2: { steps: 2 } });
  const c = m.generate({ classes: [0, 3, 9], seed: 2, stage2: { steps: 2 } });
  assert.deepEqual(a.images.toArray(), b.images.toArray());
  assert.notDeepEqual(a.images.toArray(), c.images.toArray());
  assert.throws(() => m.generate({ classes: [10] }), /unknown class 10/);
  // preview: false skips the VQ decoding and nothing else: the same images, no preview
  const d = m.generate({ classes: [0, 3, 9], seed: 1, stage2: { steps: 2 }, preview: false });
  assert.equal(d.preview, null);
  assert.deepEqual(d.images.toArray(), a.images.toArray());
  const e = m.generate({ classes: [0, 3, 9], seed: 1, stage1Only: true, preview: false });
  assert.deepEqual(e.images.toArray(), a.preview?.toArray(), 'stage1Only: the preview is the image');
  torch.dispose([a, b, c, d, e]);
});

test('d2c sample: the same arguments give byte-identical PNGs, with the preview rows', async () => {
  const args = [
    'sample',
    '--model',
    model,
    '--class',
    'Ring,2',
    '--n',
    '3',
    '--seed',
    '4',
    '--steps',
    '2',
    '--preview',
    '--threads',
    '1',
  ];
  const r1 = d2c(...args, '--out', join(root, 'a.png'), '--single', join(root, 'single'));
  assert.equal(r1.code, 0, r1.stderr);
  const r2 = d2c(...args, '--out', join(root, 'b.png'));
  assert.equal(r2.code, 0, r2.stderr);
  assert.ok(readFileSync(join(root, 'a.png')).equals(readFileSync(join(root, 'b.png'))));
  const meta = await sharp(join(root, 'a.png')).metadata();
  assert.equal(meta.width, 3 * 34 + 2); // 3 per row, 2 px padding
  assert.equal(meta.height, 2 * 34 + 2); // preview row + final row
  assert.ok(readFileSync(join(root, 'single', '0000_ring.png')).length > 0);
});

test('sample errors: not a model, unknown class, bad numbers', () => {
  assertCleanFailure(d2c('sample', '--model', root, '--n', '1'), /is not a d2c model folder/);
  assertCleanFailure(d2c('sample', '--model', model, '--class', 'banana'), /unknown class "banana".*one of/);
  assertCleanFailure(d2c('sample', '--model', model, '--n', 'abc'), /--n must be a positive integer, got "abc"/);
  assertCleanFailure(d2c('sample', '--model', model, '--stage2-cfg', '0.5'), /--stage2-cfg must be a number ≥ 1, got "0.5"/);
});

test('d2c info prints the official state-dict names and shapes, and names unknown presets', () => {
  const r = d2c('info', '--preset', 'vq16', '--keys');
  assert.equal(r.code, 0, r.stderr);
  const want = JSON.parse(readFileSync(new URL('./fixtures/keys_vq16.json', import.meta.url), 'utf8'));
  assert.deepEqual(JSON.parse(r.stdout), want);
  const q = d2c('info', '--preset', 'mar_base', '--fusion', 'qformer', '--keys');
  assert.equal(q.code, 0, q.stderr);
  assert.ok(Object.keys(JSON.parse(q.stdout)).some((k) => k.startsWith('qformer.')));
  assertCleanFailure(d2c('info', '--preset', 'nope'), /unknown preset 'nope'/);
});
