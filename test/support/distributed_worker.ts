// One rank of test/torch_distributed.test.ts: runs the collectives and prints what it got as JSON.
import * as torch from '../../src/torch/index.ts';

const d = torch.distributed;
const [rank, world, port] = process.argv.slice(2).map(Number);
d.initProcessGroup({ rank, worldSize: world, masterPort: port, timeoutMs: 30_000 });
const out: Record<string, unknown> = { rank: d.getRank(), world: d.getWorldSize() };

const sum = torch.tensor([rank + 1, 10 * rank]);
d.allReduce(sum);
out.sum = sum.toArray();

const a = torch.tensor([rank]);
const b = torch.tensor([[rank, rank]]);
d.allReduce([a, b], { op: 'max' }); // coalesced
out.coalescedMax = [a.toArray(), b.toArray()];

const x = torch.tensor([rank * 2, rank * 3]);
const y = torch.tensor([rank * 5]);
d.broadcast([x, y], world - 1);
out.broadcast = [x.toArray(), y.toArray()];

const g = d.allGather(torch.tensor([rank * 7]), { asyncOp: true });
g.work?.wait();
out.gathered = g.tensors.map((t) => t.toArray());

const pending = d.allReduce(torch.ones([1000]), { asyncOp: true });
pending?.wait();
out.asyncDone = pending?.isCompleted();

// GradSync: each rank's gradient is 2(rank + 1)·w; their average lands in .grad
const w = torch.tensor([1, 2, 3], { requiresGrad: true });
const unused = torch.tensor([1], { requiresGrad: true });
const sync = new d.GradSync([unused, w], { bucketBytes: 4 });
sync.arm();
w.mul(w)
  .mul(rank + 1)
  .sum()
  .backward();
sync.finish();
out.grad = w.grad?.toArray();
out.unusedGrad = unused.grad === null ? null : unused.grad?.toArray();
out.buckets = sync.buckets;
d.barrier();
d.destroyProcessGroup();
process.stdout.write(`${JSON.stringify(out)}\n`);
