// The colour journey's metrics: a model fit on a tiny colour ImageFolder is scored with a classifier
// trained on the same data (`train classifier --data` with train/ and test/), against the training
// folder as reference; `--oracle --data` encodes that folder's held-out images; a classifier of other
// data is refused with both sizes named.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { makeColourFolder } from './helpers/colour_folder.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'd2c-eval-colour-'));
const data = join(tmp, 'shapes');
const model = join(tmp, 'model');
const clf = join(tmp, 'clf');
const CLASSES = ['birds', 'cars', 'flowers'];

function d2c(...args: string[]): { code: number | null; stderr: string; stdout: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 600_000,
  });
  return { code: r.status, stderr: r.stderr, stdout: r.stdout };
}

before(async () => {
  await makeColourFolder(join(data, 'train'), { classes: CLASSES, perClass: 6, seed: 1 });
  await makeColourFolder(join(data, 'test'), { classes: CLASSES, perClass: 3, seed: 2 });
  const fit = d2c(
    'fit',
    '--data',
    join(data, 'train'),
    '--out',
    model,
    '--steps-scale',
    '0.001',
    '--per-class',
    '1',
    '--threads',
    '1',
  );
  assert.equal(fit.code, 0, fit.stderr);
  const c = d2c('train', 'classifier', '--data', data, '--out', clf, '--epochs', '2', '--batch-size', '6', '--threads', '1');
  assert.equal(c.code, 0, c.stderr);
});
after(() => rmSync(tmp, { recursive: true, force: true }));

/** `d2c eval` of the fitted model with its own classifier and the training folder as reference. */
const evalColour = (...args: string[]) =>
  d2c('eval', '--model', model, '--classifier', clf, '--reference', join(data, 'train'), '--threads', '1', ...args);

test('eval of a colour model: metrics named after its data, the training folder as reference', () => {
  const out = join(tmp, 'eval');
  const r = evalColour('--n', '6', '--batch-size', '6', '--out', out);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  for (const k of ['fid_shapes', 'kid_shapes', 'precision_shapes', 'recall_shapes'])
    assert.equal(typeof report.metrics[k], 'number', `${k} in ${Object.keys(report.metrics)}`);
  assert.ok(!('fid_fmnist' in report.metrics));
});

test('eval --oracle --data: the held-out folder’s codes, with the five PSNRs', () => {
  const out = join(tmp, 'oracle');
  const oracle = ['--oracle', '--data', join(data, 'test')];
  const r = evalColour(...oracle, '--n', '9', '--batch-size', '9', '--out', out);
  assert.equal(r.code, 0, r.stderr);
  const m = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')).metrics;
  for (const k of ['psnr', 'vq_recon_psnr', 'kl_recon_psnr']) assert.ok(Number.isFinite(m[k]), `${k}: ${m[k]}`);
  // Asking for more than the folder holds names the limit.
  const big = evalColour(...oracle, '--n', '30', '--out', join(tmp, 'o2'));
  assert.notEqual(big.code, 0);
  assert.match(big.stderr, /has only 3 images of class \d; use a smaller --n/);
});

test('eval refuses a classifier of other data, and the Fashion-MNIST reference for a colour classifier', () => {
  const wrong = d2c(
    'eval',
    '--model',
    model,
    '--classifier',
    'models/fmnist-classifier',
    '--n',
    '6',
    '--threads',
    '1',
    '--out',
    join(tmp, 'x'),
  );
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stderr, /makes 32×32×3 images, but the classifier models\/fmnist-classifier takes 32×32×1/);
  const ref = d2c('eval', '--model', model, '--classifier', clf, '--n', '6', '--threads', '1', '--out', join(tmp, 'y'));
  assert.notEqual(ref.code, 0);
  assert.match(ref.stderr, /--reference fmnist:test: Fashion-MNIST is not the data of/);
});
