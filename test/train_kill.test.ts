// `kill -9` of a training run (`d2c train stage1`, a real child process) at several moments of its
// writing: mid-file in a checkpoint save, between the save's renames, while the log is carried into
// the new checkpoint, and mid-append of a log line. Each kill is placed exactly by a preload
// (support/kill_at.ts). After every kill the run folder holds a loadable checkpoint, `pack` reads a
// torn log with a warning naming it, and `--resume` continues; the last resume ends bit-exactly
// where an uninterrupted run does, with the whole log and no leftover folders.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { packModel } from '../src/cli/commands/pack.ts';
import { readJsonLines } from '../src/io/json_file.ts';
import { buildPart, type PartConfig } from '../src/pipeline/parts.ts';
import * as torch from '../src/torch/index.ts';
import { loadCheckpoint, readCheckpointConfig, resolveCheckpointDir } from '../src/train/checkpoint.ts';
import { ROOT, tinyCache, writeTinyPart } from './helpers/tiny_pipeline.ts';

const STEPS = 12;
const root = mkdtempSync(join(tmpdir(), 'd2c-kill-'));
let parts: { vq: string; kl: string; cache: string; stage2: string };
before(async () => {
  parts = { ...(await tinyCache(root, 32)), stage2: writeTinyPart(join(root, 's2'), 'mar', 4) };
});
after(() => rmSync(root, { recursive: true, force: true }));

const args = (out: string) => [
  ...['train', 'stage1', '--cache', parts.cache, '--out', out, '--preset', 'gpt_test'],
  ...['--set', 'vocabSize=64', '--set', 'blockSize=64', '--set', 'numClasses=10'],
  ...['--steps', String(STEPS), '--batch-size', '4', '--log-every', '1', '--save-every', '2', '--threads', '1'],
];

/** `d2c train stage1`, killed with SIGKILL at the moment `killAt` names (none: runs to its end). */
function train(out: string, o: { resume?: boolean; killAt?: object } = {}) {
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '--import',
      './test/support/kill_at.ts',
      'src/cli/main.ts',
      ...args(out),
      ...(o.resume ? ['--resume'] : []),
    ],
    {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 300_000,
      env: { ...process.env, KILL_AT: JSON.stringify(o.killAt ?? null) },
    },
  );
  return { code: r.status, signal: r.signal, stderr: r.stderr };
}

/** Kills a run at `killAt`, checking that the kill landed there. */
function killed(out: string, killAt: object, resume: boolean): string {
  const r = train(out, { killAt, resume });
  assert.equal(r.signal, 'SIGKILL', `not killed at ${JSON.stringify(killAt)}: exit ${r.code}\n${r.stderr}`);
  assert.match(r.stderr, /kill_at: SIGKILL/);
  return r.stderr;
}

let probes = 0;
/**
 * What a reader finds in a copy of the run's folder (so the next `--resume` still meets the folder
 * as the kill left it): the step of a checkpoint whose every file loads, and the log.
 */
function probe(run: string): { step: number; dir: string } {
  const copy = join(root, `probe-${probes++}`);
  cpSync(join(run, '..'), copy, { recursive: true });
  const dir = resolveCheckpointDir(join(copy, 's1'));
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.safetensors')))
    torch.dispose([...torch.loadSafetensors(join(dir, f)).values()]);
  const pc = readCheckpointConfig(dir) as unknown as PartConfig;
  const model = buildPart('gpt', pc.config);
  const { trainer } = loadCheckpoint(dir, { model, restoreGlobalRng: false });
  torch.dispose(model.parameters());
  assert.ok(trainer, `${dir}: no trainer.json`);
  return { step: trainer.step, dir };
}

/** The steps of a log's lines (every line must parse). */
const loggedSteps = (log: string) => (readJsonLines(log) as { step: number }[]).map((l) => l.step);

/** What the stderr writes of `fn` say. */
function stderrOf(fn: () => void): string {
  const write = process.stderr.write;
  let out = '';
  process.stderr.write = ((s: string) => {
    out += s;
    return true;
  }) as typeof process.stderr.write;
  try {
    fn();
  } finally {
    process.stderr.write = write;
  }
  return out;
}

test('kill -9 mid-save, between renames, mid-log-carry and mid-append: always a loadable checkpoint; --resume ends as an uninterrupted run', () => {
  const straight = join(root, 'straight', 's1');
  const ref = train(straight);
  assert.equal(ref.code, 0, ref.stderr);

  const run = join(root, 'run', 's1');
  // Saves come at steps 2, 4, 6, …; each kill below lands in the first or second save of its process.
  killed(run, { op: 'write', path: 'model\\.safetensors', nth: 2, chunk: 3 }, false);
  assert.equal(probe(run).step, 2, 'a kill mid-file in the step-4 save keeps the step-2 checkpoint');

  killed(run, { op: 'write', path: 'trainer\\.json', nth: 1 }, true);
  assert.equal(probe(run).step, 2, 'a kill mid-trainer.json (the last file of a save) keeps the old checkpoint');

  // The old folder is parked, the new one not yet renamed in: readers move the parked one back.
  killed(run, { op: 'rename', path: 's1\\.tmp-\\d+$', nth: 1 }, true);
  assert.ok(!existsSync(run), 'the kill should land between the two renames');
  const between = probe(run);
  assert.equal(between.step, 2);
  assert.deepEqual(loggedSteps(join(between.dir, 'log.jsonl')).slice(0, 4), [1, 2, 3, 4], 'the log went with the parked folder');

  // The new checkpoint is in place; the log is still in the parked old folder.
  killed(run, { op: 'rename', path: 'log\\.jsonl$', nth: 1 }, true);
  const carried = probe(run);
  assert.equal(carried.step, 4, 'a kill after the swap keeps the new checkpoint');
  assert.deepEqual(loggedSteps(join(carried.dir, 'log.jsonl')).slice(0, 4), [1, 2, 3, 4], 'the log was lost');

  // Step 5's line is whole, step 6's torn; the last checkpoint is step 4's.
  killed(run, { op: 'append', path: 'log\\.jsonl$', nth: 2 }, true);
  const torn = probe(run);
  assert.equal(torn.step, 4);
  assert.throws(() => readJsonLines(join(torn.dir, 'log.jsonl')), /log\.jsonl:\d+: not valid JSON/);
  // pack (and fit, which packs through packModel) reads the log, skipping the torn line.
  const warned = stderrOf(() =>
    packModel({ ...parts, stage1: torn.dir, out: join(root, 'packed'), name: 'killed', fp16: false }),
  );
  assert.match(warned, /s1\/log\.jsonl:\d+: skipped a torn last line/);
  assert.ok(existsSync(join(root, 'packed', 'd2c.json')));

  const last = train(run, { resume: true });
  assert.equal(last.code, 0, last.stderr);
  assert.match(last.stderr, /s1\/log\.jsonl: cut a torn last line of \d+ bytes/);
  for (const f of ['model.safetensors', 'ema.safetensors', 'optimizer.safetensors'])
    assert.ok(readFileSync(join(straight, f)).equals(readFileSync(join(run, f))), `${f} differs from the uninterrupted run's`);
  const steps = loggedSteps(join(run, 'log.jsonl'));
  assert.deepEqual([steps[0], steps.at(-1)], [1, STEPS]);
  for (let s = 1; s <= STEPS; s++) assert.ok(steps.includes(s), `step ${s} is missing from the log`);
  assert.deepEqual(readdirSync(join(root, 'run')), ['s1'], 'a killed save left a temp or parked folder behind');
});
