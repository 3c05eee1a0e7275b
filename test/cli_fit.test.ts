// `d2c fit` end to end on a tiny generated colour ImageFolder (3 classes of mixed-size PNGs, one
// corrupt PNG, one text file), a handful of steps per phase: a Ctrl-C during stage 1 stops it, the
// same command again resumes (the finished phases are not redone) and ends in sampled PNGs of the
// right size and channels; with --jobs 2 the pairs of trainings run in child processes, and a
// Ctrl-C reaches them. Then `train stage1/stage2` on its ImageFolder cache need no class count.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { makeColourFolder } from './helpers/colour_folder.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'd2c-fit-'));
const data = join(tmp, 'my images');
const model = join(tmp, 'model');
before(() => makeColourFolder(data, { classes: ['birds', 'cars', 'flowers'], perClass: 5, junk: true }));
after(() => rmSync(tmp, { recursive: true, force: true }));

const NODE = [process.execPath, '--import', 'tsx', 'src/cli/main.ts'];
const FIT = [
  'fit',
  '--data',
  data,
  '--out',
  model,
  '--size',
  '32',
  '--steps-scale',
  '0.001',
  '--per-class',
  '2',
  '--threads',
  '1',
  '--jobs',
  '1',
];

function d2c(...args: string[]): { code: number | null; stderr: string; stdout: string } {
  const r = spawnSync(NODE[0], [...NODE.slice(1), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 600_000 });
  return { code: r.status, stderr: r.stderr, stdout: r.stdout };
}

/** Runs fit and presses Ctrl-C once `cue` is on stderr. */
function fitInterrupted(args = FIT, cue = '[4/7] stage-1 GPT'): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE[0], [...NODE.slice(1), ...args], { cwd: ROOT });
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (d) => {
      stderr += String(d);
      if (!sent && stderr.includes(cue)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    child.stdout.resume();
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

test('fit stops on Ctrl-C, resumes when run again, and ends in samples of every class', async () => {
  const first = await fitInterrupted();
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stderr, /fit: 15 images of 3 classes \(birds, cars, flowers\) at 32×32×3/);
  assert.match(first.stderr, /warning: skipping unreadable image .*broken\.png/);
  assert.match(first.stderr, /\[1\/7\] vq tokenizer: 2 steps/);
  assert.match(first.stderr, /interrupt/);
  assert.ok(!existsSync(join(model, 'd2c.json')), 'stopped before the model folder');
  for (const part of ['vq', 'kl', 'cache', 'stage1']) assert.ok(existsSync(join(model, 'runs', part)), part);
  const vqLog = readFileSync(join(model, 'runs', 'vq', 'log.jsonl'), 'utf8');

  const second = d2c(...FIT);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stderr, /\[1\/7\] vq tokenizer: done \(2 steps\)/);
  assert.match(second.stderr, /\[2\/7\] kl tokenizer: done \(4 steps\)/);
  assert.match(second.stderr, /\[3\/7\] token cache: done/);
  assert.match(second.stderr, /\[4\/7\] stage-1 GPT: (resuming at step \d of 4|done \(4 steps\))/);
  assert.match(second.stderr, /\[5\/7\] stage-2 MAR: 6 steps/);
  assert.equal(readFileSync(join(model, 'runs', 'vq', 'log.jsonl'), 'utf8'), vqLog, 'the VQ was not retrained');

  const info = JSON.parse(readFileSync(join(model, 'd2c.json'), 'utf8'));
  assert.deepEqual(info.classes, ['birds', 'cars', 'flowers']);
  assert.deepEqual([info.imageSize, info.channels], [32, 3]);
  const singles = readdirSync(join(model, 'samples')).sort();
  assert.deepEqual(singles, ['birds_00.png', 'birds_01.png', 'cars_00.png', 'cars_01.png', 'flowers_00.png', 'flowers_01.png']);
  for (const f of singles) {
    const m = await sharp(join(model, 'samples', f)).metadata();
    assert.deepEqual([m.width, m.height, m.channels], [32, 32, 3], f);
  }
  // The grid: a row per class (2 images of 32 px, 2 px padding) behind a column of class names.
  const grid = await sharp(join(model, 'samples.png')).metadata();
  assert.equal(grid.height, 3 * 34 + 2);
  assert.equal(grid.channels, 3);
  assert.ok((grid.width ?? 0) > 2 * 34 + 2);

  // Run again: nothing left to do.
  const third = d2c(...FIT);
  assert.equal(third.code, 0, third.stderr);
  assert.match(third.stderr, /\[7\/7\] samples: done/);

  // Other data for the same model folder is refused, naming both.
  const other = d2c(...FIT.map((a) => (a === '32' ? '64' : a)));
  assert.equal(other.code, 1);
  assert.match(other.stderr, /d2c: .* was fit on --data .* --size 32 .*not --data .* --size 64/);
});

test('fit --jobs 2 trains each pair side by side in child processes; a Ctrl-C stops both, and it resumes', async () => {
  const out = join(tmp, 'model-jobs');
  const args = FIT.map((a) => (a === model ? out : a)).slice(0, -2);
  const parallelCue = 'stage-2 MAR: in its own process';
  const first = await fitInterrupted([...args, '--jobs', '2'], parallelCue);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stderr, /up to 2 phases at once/);
  for (const p of ['1/7] vq tokenizer', '2/7] kl tokenizer', '4/7] stage-1 GPT', '5/7] stage-2 MAR'])
    assert.ok(first.stderr.includes(`[${p}: in its own process beside 1 other(s), 1 thread(s)`), p);
  assert.match(first.stderr, /fit: interrupted; run the same command again to continue/);
  assert.ok(!existsSync(join(out, 'd2c.json')), 'stopped before the model folder');
  const cacheMeta = readFileSync(join(out, 'runs', 'cache', 'meta.json'), 'utf8');

  const second = d2c(...args, '--jobs', '2');
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stderr, /\[1\/7\] vq tokenizer: done \(2 steps\)/);
  assert.match(second.stderr, /\[3\/7\] token cache: done/);
  assert.equal(readFileSync(join(out, 'runs', 'cache', 'meta.json'), 'utf8'), cacheMeta, 'the cache was not rebuilt');
  for (const [part, want] of [
    ['stage1', 4],
    ['stage2', 6],
  ] as const) {
    const steps = JSON.parse(readFileSync(join(out, 'runs', part, 'trainer.json'), 'utf8')).step;
    assert.equal(steps, want, part);
  }
  assert.match(second.stderr, /\[7\/7\] samples: 2 per class/);
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'd2c.json'), 'utf8')).classes, ['birds', 'cars', 'flowers']);
});

test('train stage1/stage2 on the ImageFolder cache take its class count; a conflicting one names both', () => {
  const cache = join(model, 'runs', 'cache');
  const common = ['--cache', cache, '--steps', '1', '--batch-size', '4', '--threads', '1'];
  let r = d2c('train', 'stage1', '--preset', 'gpt_c32', '--out', join(tmp, 's1'), ...common);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(readFileSync(join(tmp, 's1', 'config.json'), 'utf8')).config.numClasses, 3);
  r = d2c('train', 'stage2', '--preset', 'mar_c32', '--fusion', 'qformer', '--out', join(tmp, 's2'), ...common);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(readFileSync(join(tmp, 's2', 'config.json'), 'utf8')).config.classNum, 3);
  r = d2c('train', 'stage1', '--preset', 'gpt_c32', '--set', 'numClasses=10', '--out', join(tmp, 's1x'), ...common);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /d2c: stage1: numClasses 10 ≠ the cache's 3 classes/);
});

test('recon on the ImageFolder: PSNR and codebook usage of the fitted VQ at the size it was trained on', () => {
  const r = d2c('recon', '--tokenizer', join(model, 'runs', 'vq'), '--dataset', 'imagefolder', '--data', data, '--threads', '1');
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout.trim().split('\n').pop() as string);
  assert.equal(report.n, 15);
  assert.equal(report.codebook_size, 256);
  assert.ok(Number.isFinite(report.psnr) && report.psnr > 0, String(report.psnr));
  assert.ok(report.codebook_usage > 0 && report.codebook_usage <= 1);
});

test('a bad --size or a missing folder is refused by name and leaves nothing behind', () => {
  const out = join(tmp, 'refused');
  let r = d2c('fit', '--data', data, '--out', out, '--size', '48');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^d2c: --size must be one of 32, 64 \(the colour presets' sizes\), got 48/);
  r = d2c('fit', '--data', join(tmp, 'nope'), '--out', out);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^d2c: ImageFolder: .*nope is not a folder \(expected .*nope\/<class>\/<image>\)/);
  assert.ok(!existsSync(out));
});
