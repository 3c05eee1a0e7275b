// The addon across threads: two worker threads run thousands of torch ops at the same time. Each
// Node environment (thread) has its own tensor table and live counts, so results stay right, the
// counts see only the thread's own tensors, and every tensor is freed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startWorker } from '../src/data/decode_pool.ts';
import * as torch from '../src/torch/index.ts';

interface Report {
  wrong: string[];
  liveDrift: number;
  liveAtEnd: number;
}

function run(seed: number, iterations: number, barrier: Int32Array): Promise<Report> {
  const w = startWorker(new URL('./support/torch_thread_ops.ts', import.meta.url), {
    workerData: { iterations, seed, barrier },
  });
  return new Promise((resolve, reject) => {
    w.once('message', (r: Report) => {
      resolve(r);
      void w.terminate();
    });
    w.once('error', reject);
    w.once('exit', (code) => reject(new Error(`worker ${seed} exited with code ${code} before reporting`)));
  });
}

test('two threads run 5000 torch ops each at once: right results, per-thread live counts, nothing leaked', async () => {
  const mainLive = torch.liveTensors();
  const kept = torch.keep(torch.ones([3])); // the main thread's own tensor, untouched by the workers
  const barrier = new Int32Array(new SharedArrayBuffer(4));
  const reports = await Promise.all([run(1, 5000, barrier), run(2, 5000, barrier)]);
  for (const [i, r] of reports.entries()) {
    assert.deepEqual(r.wrong, [], `worker ${i + 1}: wrong results`);
    assert.equal(r.liveDrift, 0, `worker ${i + 1}: its live count included tensors not its own`);
    assert.equal(r.liveAtEnd, 0, `worker ${i + 1}: tensors left live`);
  }
  assert.equal(torch.liveTensors(), mainLive + 1);
  assert.deepEqual(kept.toArray(), [1, 1, 1]);
  kept.dispose();
});
