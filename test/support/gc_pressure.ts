// Child process for torch_memory.test.ts (run with --trace-gc): a scoped loop that churns through
// 2.5 GB of tensors between "scoped:begin" and "scoped:end", then 120 tensors of 8 MB dropped without
// dispose, and the number of those still alive ("dropped-alive N").
import * as torch from '../../src/torch/index.ts';

torch.setNumThreads(1);
console.log('scoped:begin');
for (let i = 0; i < 16; i++) {
  torch.tidy(() => {
    let a = torch.ones([4, 1024, 1024]); // 16 MB each, 160 MB alive at the end of a step
    for (let k = 0; k < 9; k++) a = a.mul(1.01);
    a.sum().item();
  });
}
console.log('scoped:end');
const before = torch.liveTensors();
for (let i = 0; i < 120; i++) {
  torch.empty([2, 1024, 1024]).fill_(1);
  await new Promise((resolve) => setImmediate(resolve));
}
console.log(`dropped-alive ${torch.liveTensors() - before}`);
