// Child of test/torch_threads.test.ts: one worker thread running torch ops in a loop, started at the
// same moment as its sibling (a shared barrier). Reports wrong results and its live counts.
import { parentPort, workerData } from 'node:worker_threads';
import * as torch from '../../src/torch/index.ts';

const { iterations, seed, barrier } = workerData as { iterations: number; seed: number; barrier: Int32Array };
torch.setNumThreads(1);
const base = torch.liveTensors();
// Tensors held across the loop: the table must keep them apart from the sibling's churn.
const held = Array.from({ length: 16 }, (_, k) => torch.keep(torch.full([4], seed * 1000 + k)));
Atomics.add(barrier, 0, 1);
Atomics.notify(barrier, 0);
while (Atomics.load(barrier, 0) < 2) Atomics.wait(barrier, 0, Atomics.load(barrier, 0), 50);
const wrong: string[] = [];
let liveDrift = 0;
for (let i = 0; i < iterations; i++) {
  const got = torch.tidy(() => {
    const a = torch.tensor([i, seed, i + seed, 1], { dtype: 'float64' });
    const b = a
      .mul(2)
      .add(held[i % 16])
      .sum();
    return b.item() as number;
  });
  const want = 2 * (i + seed + i + seed + 1) + 4 * (seed * 1000 + (i % 16));
  if (got !== want && wrong.length < 5) wrong.push(`iteration ${i}: ${got} != ${want}`);
  // Only this thread's tensors count: the 16 held ones, whatever the sibling holds right now.
  if (torch.liveTensors() !== base + 16) liveDrift++;
}
for (let k = 0; k < 16; k++) {
  const v = held[k].toArray() as number[];
  if (v.some((x) => x !== seed * 1000 + k)) wrong.push(`held tensor ${k} changed: ${v}`);
}
torch.dispose(held);
parentPort?.postMessage({ wrong, liveDrift, liveAtEnd: torch.liveTensors() - base });
