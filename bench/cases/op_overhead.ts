// Per-op overhead: a tiny add on a 4-element tensor, including the result's disposal, in µs per
// op. This is the cost of the JS → N-API → boxed dispatcher path itself (DESIGN: a naive boxed
// call costs about as much as Python's torch.add). bench/torch/op_overhead.py is the twin.
import * as torch from '../../src/torch/index.ts';
import { median } from '../timing.ts';

const OPS = 20_000;
const REPEATS = 9;

function run(): number {
  torch.setNumThreads(2);
  const x = torch.tensor([1, 2, 3, 4]);
  const perOpUs: number[] = [];
  for (let r = 0; r < REPEATS + 1; r++) {
    const t0 = performance.now();
    for (let i = 0; i < OPS; i++) x.add(1).dispose();
    if (r > 0) perOpUs.push(((performance.now() - t0) * 1000) / OPS); // the first batch is warm-up
  }
  x.dispose();
  return median(perOpUs);
}

export default { name: 'op_overhead', unit: 'us', run };

if (import.meta.url === `file://${process.argv[1]}`) console.log(run().toFixed(3));
