// D2C sampling of 1,000 class-balanced images (batches of 100, as `d2c eval --n 1000`) from the
// shipped model at its d2c.json defaults, and stage 1 alone (`--stage1-only`), at one thread, in
// one run: the figure is the defaults' wall ms; beside it stage 1's, their ratio (issue 30's
// target: ≤ 2), and the same in CPU time, which a busy machine does not inflate. No PyTorch twin.
import { D2C } from '../../src/pipeline/d2c.ts';
import * as torch from '../../src/torch/index.ts';
import { timeSampling } from '../d2c_sampling_time.ts';

const N = 1000;

function run() {
  torch.setNumThreads(1);
  const m = D2C.fromPretrained('models/d2c-fmnist');
  timeSampling(m, {}, 20, 10); // warm-up: allocator, caches
  const full = timeSampling(m, {}, N);
  const stage1 = timeSampling(m, { stage1Only: true }, N);
  return {
    value: full.wallSeconds * 1000,
    detail: {
      stage1_ms: stage1.wallSeconds * 1000,
      ratio: full.wallSeconds / stage1.wallSeconds,
      cpu_ms: full.cpuSeconds * 1000,
      stage1_cpu_ms: stage1.cpuSeconds * 1000,
      cpu_ratio: full.cpuSeconds / stage1.cpuSeconds,
    },
  };
}

export default { name: 'd2c_sample_1000', unit: 'ms', twin: false, run };
