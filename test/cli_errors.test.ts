// The CLI's error path: every failure must print one `d2c: <message>` line, exit ≠ 0 and show no
// stack trace. The commands run in this process through buildProgram() (test/helpers/cli_in_process.ts);
// one runs as a user would, `node --import tsx src/cli/main.ts …` in a child process, for the wiring.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import sharp from 'sharp';
import { parseIntOption, parseNumberOption } from '../src/cli/options.ts';
import { fashionMnistAvailable } from '../src/data/fashion_mnist.ts';
import { d2cInProcess as d2c } from './helpers/cli_in_process.ts';

const ROOT = new URL('..', import.meta.url).pathname;

function assertCleanFailure(r: { code: number | null; stderr: string }, message: RegExp): void {
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /^d2c: /);
  assert.match(r.stderr, message);
  assert.doesNotMatch(r.stderr, /\n\s+at /, `stack trace printed:\n${r.stderr}`);
}

const tmp = mkdtempSync(join(tmpdir(), 'd2c-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('option parsers', () => {
  test('name the option and the value', () => {
    assert.equal(parseIntOption('12', '--n', { min: 1 }), 12);
    assert.throws(() => parseIntOption('abc', '--n', { min: 1 }), /^UsageError: --n must be a positive integer, got "abc"$/);
    assert.throws(() => parseIntOption('1.5', '--n', { min: 1 }), /got "1\.5"/);
    assert.throws(() => parseIntOption('0', '--n', { min: 1 }), /got "0"/);
    assert.throws(() => parseIntOption('4', '--k', { min: 1, max: 3 }), /--k must be an integer in 1\.\.3, got "4"/);
    assert.equal(parseNumberOption('0.5', '--cfg', { min: 0 }), 0.5);
    assert.throws(() => parseNumberOption('', '--lr', { gt: 0 }), /--lr must be a number > 0, got ""/);
    assert.throws(() => parseNumberOption('-1', '--lr', { gt: 0 }), /got "-1"/);
  });
});

describe('d2c errors (in process)', () => {
  test('missing data folder: says how to get Fashion-MNIST', async () => {
    const r = await d2c('data', 'info', '--data', join(tmp, 'missing'));
    assertCleanFailure(r, /apt-get install dataset-fashion-mnist/);
    assert.match(r.stderr, /--data DIR/);
  });

  test('bad numeric options name the option and value', async () => {
    assertCleanFailure(
      await d2c('data', 'grid', '--out', join(tmp, 'g.png'), '--per-class', 'abc'),
      /--per-class must be a positive integer, got "abc"/,
    );
    assertCleanFailure(
      await d2c('data', 'info', '--dataset', 'synthetic', '--size', '-3'),
      /--size must be a positive integer, got "-3"/,
    );
    assertCleanFailure(
      await d2c('data', 'info', '--dataset', 'cifar'),
      /--dataset must be one of fashion-mnist, imagefolder, synthetic, got "cifar"/,
    );
  });

  test('unknown options and missing required options use the same prefix', async () => {
    assertCleanFailure(await d2c('data', 'info', '--bogus'), /unknown option '--bogus'/);
    assertCleanFailure(await d2c('data', 'grid', '--dataset', 'synthetic'), /required option '--out <file>' not specified/);
  });

  test('data grid writes a PNG with one row per class (synthetic, no download needed)', async () => {
    const out = join(tmp, 'grid.png');
    const r = await d2c(
      'data',
      'grid',
      '--dataset',
      'synthetic',
      '--count',
      '40',
      '--channels',
      '3',
      '--per-class',
      '3',
      '--out',
      out,
    );
    assert.equal(r.code, 0, r.stderr);
    const meta = await sharp(readFileSync(out)).metadata();
    // 3 columns, 10 rows of 32×32 with padding 2.
    assert.deepEqual([meta.width, meta.height, meta.channels], [3 * 34 + 2, 10 * 34 + 2, 3]);
  });

  test('data info summarises Fashion-MNIST', {
    skip: fashionMnistAvailable() ? false : 'Fashion-MNIST not installed',
  }, async () => {
    const r = await d2c('data', 'info', '--split', 'test');
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.samples, 10000);
    assert.equal(s.classes[9].name, 'Ankle boot');
    assert.equal(s.classes[9].count, 1000);
  });
});

test('as a process: a bad option exits 1 with one d2c: line and no stack', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'data', 'info', '--dataset', 'cifar'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 600_000,
  });
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stderr, 'd2c: --dataset must be one of fashion-mnist, imagefolder, synthetic, got "cifar"\n');
});
