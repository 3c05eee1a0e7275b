// Data-parallel `d2c train …`: 2 processes with the global --batch-size reach the weights 1 process
// reaches (tokenizer, stage 1, stage 2), two "nodes" started as separate commands train together,
// and a killed worker stops the job with an error while --resume continues bit-exactly.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as torch from '../src/torch/index.ts';
import { d2c, ROOT, TINY, tinyCache } from './helpers/tiny_pipeline.ts';

const tmp = mkdtempSync(join(tmpdir(), 'd2c-ddp-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let port = 29700 + (process.pid % 200) * 5;
const nextPort = () => String(port++);

const TOKENIZER = [
  'train',
  'tokenizer',
  '--kind',
  'vq',
  '--dataset',
  'synthetic',
  '--count',
  '64',
  '--seed',
  '0',
  '--threads',
  '1',
];

/**
 * ‖a − b‖ / ‖b‖ over the tensors of a checkpoint file that `keep` selects. Per-sample statistics
 * buffers (the VQ's rolling codebook_used record) are rank-local by design and always left out.
 */
function relDiff(a: string, b: string, file: string, keep: (name: string) => boolean = () => true): number {
  const x = torch.loadSafetensors(join(a, file));
  const y = torch.loadSafetensors(join(b, file));
  let d = 0;
  let n = 0;
  for (const [k, t] of y) {
    if (k.endsWith('codebook_used') || !keep(k)) continue;
    const u = t.toFloat32Array();
    const v = (x.get(k) ?? assert.fail(`${a}/${file} lacks ${k}`)).toFloat32Array();
    for (let i = 0; i < u.length; i++) {
      d += (v[i] - u[i]) ** 2;
      n += u[i] ** 2;
    }
  }
  torch.dispose([...x.values(), ...y.values()]);
  return Math.sqrt(d / n);
}

function ok(r: { code: number | null; stderr: string }): void {
  assert.equal(r.code, 0, r.stderr);
}

function assertSameRun(a: string, b: string, tol = 1e-5): void {
  for (const f of ['model.safetensors', 'ema.safetensors']) {
    const r = relDiff(a, b, f);
    assert.ok(r <= tol, `${f}: 2-process and 1-process weights differ by ${r} (relative)`);
  }
  const step = (d: string) => JSON.parse(readFileSync(join(d, 'trainer.json'), 'utf8')).step;
  assert.equal(step(a), step(b));
}

test('tokenizer: 2 processes × 4 = 1 process × 8 (the issue command pair, 3 steps)', () => {
  const common = [...TOKENIZER, '--steps', '3', '--batch-size', '8', '--log-every', '1', '--master-port', nextPort()];
  ok(d2c(...common, '--nproc-per-node', '2', '--out', join(tmp, 'tokA')));
  ok(d2c(...common, '--nproc-per-node', '1', '--out', join(tmp, 'tokB')));
  assertSameRun(join(tmp, 'tokA'), join(tmp, 'tokB'));
  // only rank 0 logs: one line per step, not two
  assert.equal(
    readFileSync(join(tmp, 'tokA', 'log.jsonl'), 'utf8')
      .trim()
      .split('\n').length,
    3,
  );
});

// The pair at its 5 steps. Biases whose true gradient is exactly zero (a conv bias feeding a
// GroupNorm of one channel per group, alone or through the residual stream; an attention key bias
// under softmax) get float-rounding noise as gradient, which AdamW normalises into near-full ±lr
// steps. A 4+4 split rounds differently from 8, so those few tensors drift apart by ~1e-4 and carry
// the whole-model figure to 1.35e-5; the weight (non-bias) tensors agree to 3.6e-7 (measured).
test('tokenizer: the issue command pair at 5 steps agrees outside the zero-gradient biases', () => {
  const common = [...TOKENIZER, '--steps', '5', '--batch-size', '8', '--master-port', nextPort()];
  ok(d2c(...common, '--nproc-per-node', '2', '--out', join(tmp, 'tok5A')));
  ok(d2c(...common, '--nproc-per-node', '1', '--out', join(tmp, 'tok5B')));
  const weights = relDiff(join(tmp, 'tok5A'), join(tmp, 'tok5B'), 'model.safetensors', (k) => !k.endsWith('.bias'));
  assert.ok(weights <= 1e-6, `weights differ by ${weights} (relative)`);
  const all = relDiff(join(tmp, 'tok5A'), join(tmp, 'tok5B'), 'model.safetensors');
  assert.ok(all <= 5e-5, `all tensors differ by ${all} (relative)`);
});

test('a global batch that does not divide over the processes is a usage error', () => {
  const r = d2c(...TOKENIZER, '--steps', '1', '--batch-size', '7', '--nproc-per-node', '2', '--out', join(tmp, 'odd'));
  assert.equal(r.code, 1);
  assert.match(r.stderr, /--batch-size 7 does not divide evenly over 2 processes/);
});

let cache = '';
before(async () => {
  cache = (await tinyCache(join(tmp, 'pipe'), 32)).cache;
});

/** The tiny config as a --config file (--set would turn numSamplingSteps '5' into a number). */
function configFile(kind: 'gpt' | 'mar'): string[] {
  const f = join(tmp, `${kind}.json`);
  writeFileSync(f, JSON.stringify(TINY[kind].overrides));
  return ['--config', f];
}

for (const [cmd, kind] of [
  ['stage1', 'gpt'],
  ['stage2', 'mar'],
] as const) {
  test(`${cmd}: 2 processes × 4 = 1 process × 8`, () => {
    const common = [
      'train',
      cmd,
      '--cache',
      cache,
      '--preset',
      TINY[kind].preset,
      ...configFile(kind),
      '--steps',
      '3',
      '--batch-size',
      '8',
      '--threads',
      '1',
      '--master-port',
      nextPort(),
    ];
    ok(d2c(...common, '--nproc-per-node', '2', '--out', join(tmp, `${cmd}A`)));
    ok(d2c(...common, '--out', join(tmp, `${cmd}B`)));
    assertSameRun(join(tmp, `${cmd}A`), join(tmp, `${cmd}B`));
  });
}

/** Starts the CLI without waiting (for two "nodes" at once, or a run to kill). */
function start(args: string[]): Promise<{ code: number | null; stderr: string; ms: number }> & { pid: () => number } {
  const t0 = Date.now();
  const child = spawn('npx', ['tsx', 'src/cli/main.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b) => {
    stderr += b;
  });
  const p = new Promise<{ code: number | null; stderr: string; ms: number }>((resolve) =>
    child.on('exit', (code) => resolve({ code, stderr, ms: Date.now() - t0 })),
  ) as Promise<{ code: number | null; stderr: string; ms: number }> & { pid: () => number };
  p.pid = () => child.pid ?? -1;
  return p;
}

test('two nodes of one process each, started as separate commands, train as one job', async () => {
  const p = nextPort();
  const common = [...TOKENIZER, '--steps', '3', '--batch-size', '8', '--nnodes', '2', '--master-port', p];
  const out = join(tmp, 'nodes');
  const [n0, n1] = await Promise.all([
    start([...common, '--node-rank', '0', '--master-addr', '127.0.0.1', '--out', out]),
    start([...common, '--node-rank', '1', '--master-addr', '127.0.0.1', '--out', out]),
  ]);
  ok(n0);
  ok(n1);
  const single = join(tmp, 'tokB'); // the 1-process run of the first test (made here when run alone)
  if (!existsSync(single)) ok(d2c(...TOKENIZER, '--steps', '3', '--batch-size', '8', '--out', single));
  assertSameRun(out, single);
});

/** Processes whose command line names `out` (and whose environment holds `env`, e.g. RANK=1). */
function jobPids(out: string, env?: string): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((pid) => {
      try {
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        if (!cmd.includes(out)) return false;
        return env === undefined || readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(env);
      } catch {
        return false;
      }
    });
}

test('a killed worker stops the job with a clear error; --resume continues bit-exactly', async () => {
  const common = [...TOKENIZER, '--steps', '12', '--batch-size', '8', '--save-every', '2', '--log-every', '1'];
  const out = join(tmp, 'killed');
  const job = start([...common, '--nproc-per-node', '2', '--master-port', nextPort(), '--out', out]);
  // wait for the first checkpoint, then SIGKILL rank 1 (the launcher's second child)
  while (!existsSync(join(out, 'trainer.json'))) await new Promise((r) => setTimeout(r, 100));
  const [rank1] = jobPids(out, 'RANK=1');
  assert.ok(rank1, 'rank 1 is running');
  const killedAt = Date.now();
  process.kill(rank1, 'SIGKILL');
  const r = await job;
  assert.equal(r.code, 1);
  assert.match(r.stderr, /data-parallel job stopped: worker rank 1 \(pid \d+\) was killed by SIGKILL/);
  assert.ok(Date.now() - killedAt < 15_000, `the job took ${Date.now() - killedAt} ms to stop`);
  const savedStep = JSON.parse(readFileSync(join(out, 'trainer.json'), 'utf8')).step as number;
  assert.ok(savedStep >= 2 && savedStep < 12, `checkpoint at step ${savedStep}`);
  // no worker left behind
  await new Promise((res) => setTimeout(res, 500));
  assert.deepEqual(jobPids(out), [], 'no process of the job is left');
  // resume on 2 processes; an uninterrupted 2-process run is the reference
  ok(await start([...common, '--nproc-per-node', '2', '--master-port', nextPort(), '--out', out, '--resume']));
  const ref = join(tmp, 'uninterrupted');
  ok(await start([...common, '--nproc-per-node', '2', '--master-port', nextPort(), '--out', ref]));
  for (const f of ['model.safetensors', 'ema.safetensors', 'optimizer.safetensors']) {
    assert.ok(readFileSync(join(out, f)).equals(readFileSync(join(ref, f))), `${f} differs from an uninterrupted run`);
  }
});
