// Seconds to sample n class-balanced images from a D2C model folder in batches (as `d2c eval`
// samples), wall and this process's CPU time: on a shared machine at one thread, CPU time is the
// figure contention does not inflate. Shared by bench/cases/d2c_sample_1000.ts and
// scripts/stage2_speed_timing.ts.
import type { D2C, GenerateOptions } from '../src/pipeline/d2c.ts';
import * as torch from '../src/torch/index.ts';

export interface SamplingTime {
  wallSeconds: number;
  cpuSeconds: number;
}

export function timeSampling(
  m: D2C,
  o: Omit<GenerateOptions, 'classes' | 'seed'>,
  n: number,
  batch = 100,
  seed = 0,
): SamplingTime {
  const K = m.classes.length;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let b = 0; b * batch < n; b++) {
    const size = Math.min(batch, n - b * batch);
    const classes = Array.from({ length: size }, (_, i) => (b * batch + i) % K);
    torch.dispose(m.generate({ preview: false, ...o, classes, seed: seed + b })); // final images only, as d2c eval
  }
  const cpu = process.cpuUsage(cpu0);
  return { wallSeconds: (performance.now() - t0) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}
