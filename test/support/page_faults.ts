// Child process for torch_allocator.test.ts: runs a few MLP training steps (activations of
// 1–16 MiB, freed each step) and prints the minor page faults of the last steps, per step.
import * as torch from '../../src/torch/index.ts';

torch.setNumThreads(1);
const g = new torch.Generator(0);
const w1 = torch.keep(torch.randn([256, 1024], { generator: g }).mul(0.02).requiresGrad_());
const w2 = torch.keep(torch.randn([1024, 256], { generator: g }).mul(0.02).requiresGrad_());
const x = torch.keep(torch.randn([4096, 256], { generator: g }));
const step = () =>
  torch.tidy(() => {
    torch.F.gelu(x.matmul(w1)).matmul(w2).square().mean().backward();
    w1.grad = null;
    w2.grad = null;
  });
for (let i = 0; i < 3; i++) step(); // the heap reaches its working size
const before = process.resourceUsage().minorPageFault;
const steps = 8;
for (let i = 0; i < steps; i++) step();
console.log(Math.round((process.resourceUsage().minorPageFault - before) / steps));
