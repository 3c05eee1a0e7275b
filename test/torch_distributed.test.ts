// torch.distributed over c10d/Gloo with real processes: two ranks on this machine run each
// collective, and a rank that dies makes the other's next collective fail with an error, not hang.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import * as torch from '../src/torch/index.ts';

const ROOT = new URL('..', import.meta.url).pathname;
let port = 29400 + (process.pid % 200);

function rank(args: (string | number)[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args.map(String)], { cwd: ROOT });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b) => {
    stdout += b;
  });
  child.stderr.on('data', (b) => {
    stderr += b;
  });
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

test('this build has torch.distributed (libgloo-dev installed)', () => {
  assert.equal(torch.distributed.isAvailable(), true);
});

test('collectives and GradSync across 2 processes', async () => {
  const p = port++;
  const rs = await Promise.all([0, 1].map((r) => rank(['test/support/distributed_worker.ts', r, 2, p])));
  for (const r of rs) assert.equal(r.code, 0, r.stderr);
  const [a, b] = rs.map((r) => JSON.parse(r.stdout));
  for (const [i, o] of [a, b].entries()) {
    assert.equal(o.rank, i);
    assert.equal(o.world, 2);
    assert.deepEqual(o.sum, [3, 10]);
    assert.deepEqual(o.coalescedMax, [[1], [1, 1]]); // toArray() flattens
    assert.deepEqual(o.broadcast, [[2, 3], [5]]);
    assert.deepEqual(o.gathered, [[0], [7]]);
    assert.equal(o.asyncDone, true);
    assert.deepEqual(o.grad, [3, 6, 9]); // mean of 2·[1,2,3] and 4·[1,2,3]
    assert.equal(o.unusedGrad, null);
    assert.equal(o.buckets, 2);
  }
});

test('calls before initProcessGroup name the problem', () => {
  assert.throws(() => torch.distributed.allReduce(torch.ones([1])), /not initialized \(call initProcessGroup first\)/);
  assert.throws(() => torch.distributed.initProcessGroup({ rank: 2, worldSize: 2 }), /rank must be in 0\.\.1/);
});
