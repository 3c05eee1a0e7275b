// A 1024³ float32 matmul: libtorch's kernel (MKL on CPU) through d2c, against PyTorch's
// (bench/torch/matmul_1024.py). They should be equal: the call overhead is µs, the work ~17 ms.
import * as torch from '../../src/torch/index.ts';
import { medianMs } from '../timing.ts';

function run(): number {
  torch.setNumThreads(2);
  const gen = new torch.Generator(0);
  const a = torch.randn([1024, 1024], { generator: gen });
  const b = torch.randn([1024, 1024], { generator: gen });
  const ms = medianMs(() => a.matmul(b).dispose(), { warmup: 3, repeats: 15 });
  torch.dispose([a, b]);
  return ms;
}

export default { name: 'matmul_1024', unit: 'ms', run };

if (import.meta.url === `file://${process.argv[1]}`) console.log(run().toFixed(2));
