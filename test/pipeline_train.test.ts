// The shared training loop: Ctrl-C saves and a resumed run ends bit-exactly where an
// uninterrupted one does (stage 1 through the real CLI), and a NaN loss stops the run
// without touching the last good checkpoint.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { runTraining, type Trainable, TrainingDiverged, type TrainState } from '../src/train/trainer.ts';
import { d2c, ROOT, tinyCache } from './helpers/tiny_pipeline.ts';

const root = mkdtempSync(join(tmpdir(), 'd2c-train-'));
let cache: string;
before(async () => {
  cache = (await tinyCache(root, 32)).cache;
});
after(() => rmSync(root, { recursive: true, force: true }));

const stage1Args = (out: string) => [
  'train',
  'stage1',
  '--cache',
  cache,
  '--out',
  out,
  '--preset',
  'gpt_test',
  '--set',
  'vocabSize=64',
  '--set',
  'blockSize=64',
  '--set',
  'numClasses=10',
  '--steps',
  '40',
  '--batch-size',
  '4',
  '--log-every',
  '1',
  '--save-every',
  '100',
  '--threads',
  '1',
];

test('resume after SIGINT gives the same parameters as an uninterrupted run', async () => {
  const straight = join(root, 'straight');
  const r = d2c(...stage1Args(straight));
  assert.equal(r.code, 0, r.stderr);

  const cut = join(root, 'cut');
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...stage1Args(cut)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  // Interrupt once a couple of steps are logged.
  for (
    let i = 0;
    i < 600 && !(existsSync(join(cut, 'log.jsonl')) && readFileSync(join(cut, 'log.jsonl'), 'utf8').split('\n').length > 3);
    i++
  ) {
    await sleep(20);
  }
  child.kill('SIGINT');
  assert.equal(await exited, 0, stderr);
  assert.match(stderr, /interrupted at step \d+ in .*; checkpoint saved/);
  const stoppedAt = JSON.parse(readFileSync(join(cut, 'trainer.json'), 'utf8')).step;
  assert.ok(stoppedAt >= 2 && stoppedAt < 40, `stopped at ${stoppedAt}`);

  const resumed = d2c(...stage1Args(cut), '--resume');
  assert.equal(resumed.code, 0, resumed.stderr);
  for (const f of ['model.safetensors', 'ema.safetensors', 'optimizer.safetensors']) {
    assert.ok(
      readFileSync(join(straight, f)).equals(readFileSync(join(cut, f))),
      `${f} differs after resume from step ${stoppedAt}`,
    );
  }
});

test('a NaN loss stops training and keeps the last good checkpoint', async () => {
  const out = join(root, 'nan');
  const saved: number[] = [];
  const task: Trainable = {
    step: (step) => ({ loss: step === 5 ? Number.NaN : 1 / (step + 1) }),
    save: (_dir: string, s: TrainState) => {
      saved.push(s.step);
    },
    load: () => ({ step: 0, epoch: 0, data: null }),
    dataState: () => ({ epoch: 0, data: null }),
  };
  await assert.rejects(
    runTraining(task, { steps: 10, outDir: out, saveEvery: 2, logEvery: 100, quiet: true }),
    (e: Error) => e instanceof TrainingDiverged && /loss is NaN at step 6/.test(e.message) && /step 4/.test(e.message),
  );
  assert.deepEqual(saved, [2, 4]); // nothing saved after the NaN
});

test('--resume of a folder without a checkpoint is a clear error', () => {
  const r = d2c(...stage1Args(join(root, 'none')), '--resume');
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /^d2c: .*(holds no checkpoint|no config\.json|no such folder)/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});
