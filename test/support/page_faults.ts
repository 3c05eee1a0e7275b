// Child process for torch_allocator.test.ts: a fixed allocation pattern whose page faults under
// glibc's default policy are certain. Each step allocates one uint8 tensor 64 KiB larger than the
// last (from 16 MiB), writes every page and frees it; it prints {pages, faults} as JSON: the pages
// one step writes, and the minor page faults of each measured step.
//
// glibc's defaults map a request at or above the mmap threshold afresh and unmap it when freed; the
// threshold only rises to the size of a mapped block once it is freed. Every request here is larger
// than any block freed before it, so each step maps new memory and faults in every page it writes.
// Under d2c's policy (threshold fixed at 32 MiB, 1 GiB of free heap kept: src/torch/native.ts
// ALLOCATOR) the block comes from the heap, which keeps what was freed, so a step faults in only the
// 64 KiB the heap grows by — unless something small (a timer's buffer, V8's bookkeeping) landed just
// above the freed block, which then cannot grow into the next one: so the test asserts on the step
// that faults least, which under the defaults still faults in every page. The test turns the caching CPU allocator off (D2C_CPU_CACHE_MB=0) so
// that this measures glibc's policy alone.
import * as torch from '../../src/torch/index.ts';

torch.setNumThreads(1);
const MiB = 2 ** 20;
const bytes = (i: number) => 16 * MiB + i * 64 * 2 ** 10;
const step = (i: number) =>
  torch.tidy(() => {
    torch.empty([bytes(i)], { dtype: 'uint8' }).fill_(1);
  });
const warmup = 12; // the first steps of a fresh process fault either way (the heap is still settling)
for (let i = 0; i < warmup; i++) step(i);
const faults: number[] = [];
for (let i = warmup; i < warmup + 16; i++) {
  const before = process.resourceUsage().minorPageFault;
  step(i);
  faults.push(process.resourceUsage().minorPageFault - before);
}
console.log(JSON.stringify({ pages: bytes(warmup) / 4096, faults }));
