// `d2c train tokenizer` as a user runs it: the EMA decay has a default, and --resume continues with
// the checkpoint's recipe unless a flag is given again.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

const ROOT = new URL('..', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'd2c-train-tok-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const TINY = ['--kind', 'vq', '--dataset', 'synthetic', '--count', '16', '--log-every', '1', '--save-every', '1'];

function train(...args: string[]): { code: number | null; stderr: string } {
  const r = spawnSync('npx', ['tsx', 'src/cli/main.ts', 'train', 'tokenizer', ...TINY, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 180_000,
  });
  return { code: r.status, stderr: r.stderr };
}

const recipeOf = (dir: string) =>
  (JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { recipe: Record<string, unknown> }).recipe as {
    steps: number;
    batchSize: number;
    emaDecay: number;
    seed: number;
    train: { lr: number };
  };

test('without --ema the EMA decay defaults to 0.999', () => {
  const out = join(tmp, 'default');
  const r = train('--out', out, '--steps', '1', '--batch-size', '4');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(recipeOf(out).emaDecay, 0.999);
});

test('--resume keeps the checkpoint’s recipe; only flags given again change it', () => {
  const out = join(tmp, 'resume');
  let r = train('--out', out, '--steps', '1', '--batch-size', '4', '--lr', '1e-4', '--ema', '0.9', '--seed', '3');
  assert.equal(r.code, 0, r.stderr);
  r = train('--out', out, '--resume', '--steps', '2');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /resumed from .* at step 1/);
  const recipe = recipeOf(out);
  assert.deepEqual(
    { steps: recipe.steps, batchSize: recipe.batchSize, emaDecay: recipe.emaDecay, seed: recipe.seed, lr: recipe.train.lr },
    { steps: 2, batchSize: 4, emaDecay: 0.9, seed: 3, lr: 1e-4 },
  );
});

test('a bad --ema is refused by name', () => {
  const r = train('--out', join(tmp, 'bad'), '--steps', '1', '--ema', '1.5');
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /^d2c: --ema must be a number in \[0, 1\), got "1.5"/);
});
