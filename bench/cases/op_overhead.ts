// Per-op overhead: a tiny add on a 4-element tensor, including the result's disposal, in µs per
// op. This is the cost of the JS → N-API → boxed dispatcher path itself (DESIGN: a naive boxed
// call costs about as much as Python's torch.add). bench/torch/op_overhead.py is the twin.
// The figure is d2c's median block; beside it, `paired_ratio`: blocks alternated with the twin
// running in --serve mode in the same run, the median of each pair's d2c / torch. This host's
// speed moves by up to 1.8× from one process to the next (docs/performance.md), more than the
// difference measured, and pairs a few milliseconds apart share it.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import * as torch from '../../src/torch/index.ts';
import { benchRoot, projectPython } from '../python.ts';
import { median } from '../timing.ts';

const OPS = 20_000;
const REPEATS = 9;
const PAIRS = 31;

function blockUs(x: torch.Tensor): number {
  const t0 = performance.now();
  for (let i = 0; i < OPS; i++) x.add(1).dispose();
  return ((performance.now() - t0) * 1000) / OPS;
}

/** d2c's and the twin's blocks alternated, one pair at a time; null when the twin cannot run. */
async function pairedRatios(x: torch.Tensor): Promise<{ torchUs: number; ratio: number } | null> {
  const child = spawn(projectPython(), [join(benchRoot, 'bench', 'torch', 'op_overhead.py'), '--serve'], {
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const theirs: number[] = [];
  const ratios: number[] = [];
  try {
    for (let p = 0; p < PAIRS; p++) {
      // each side's block runs while the other waits on a pipe; who goes first alternates
      const oursFirst = p % 2 === 0 ? blockUs(x) : null;
      child.stdin.write('go\n');
      const line = await lines.next();
      const t = Number(line.value);
      if (line.done || !Number.isFinite(t)) return null;
      const ours = oursFirst ?? blockUs(x);
      theirs.push(t);
      ratios.push(ours / t);
    }
  } finally {
    child.stdin.end();
    child.kill();
  }
  return { torchUs: median(theirs), ratio: median(ratios) };
}

async function run() {
  torch.setNumThreads(2);
  const x = torch.tensor([1, 2, 3, 4]);
  blockUs(x); // warm-up
  const perOpUs = Array.from({ length: REPEATS }, () => blockUs(x));
  const paired = await pairedRatios(x);
  x.dispose();
  const value = median(perOpUs);
  return paired ? { value, detail: { paired_torch_us: paired.torchUs, paired_ratio: paired.ratio } } : value;
}

export default { name: 'op_overhead', unit: 'us', run };

if (import.meta.url === `file://${process.argv[1]}`) console.log(await run());
