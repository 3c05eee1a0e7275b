// Stage-1 sampling speed: 64 codes (an 8×8 grid) for a batch of 16 labels with a KV cache and
// classifier-free guidance (32 rows per step), top-k 100, on a small GPT (dim 256, 4 layers,
// vocabulary 512). bench/torch/gpt_sample_64tok.py does the same work op for op in PyTorch eager.
import { GPT, gptConfig } from '../../src/generators/gpt.ts';
import { generate } from '../../src/generators/gpt_sample.ts';
import { normal_ } from '../../src/nn/init.ts';
import * as torch from '../../src/torch/index.ts';

const WARMUP = 1;
const REPEATS = 5;

function run(): number {
  torch.setNumThreads(2);
  const gen = new torch.Generator(0);
  const config = gptConfig('gpt_fmnist', { nLayer: 4, nHead: 4, dim: 256, vocabSize: 512, blockSize: 64, numClasses: 10 });
  const model = new GPT(config, { generator: gen }).eval();
  normal_(model.output.weight, 0, 0.02, gen); // LlamaGen zero-inits the head; give it logits to sample from
  const labels = torch.keep(
    torch.tensor(
      Array.from({ length: 16 }, (_, i) => i % 10),
      { dtype: 'int64' },
    ),
  );
  const times: number[] = [];
  for (let i = 0; i < WARMUP + REPEATS; i++) {
    const t0 = performance.now();
    const codes = generate(model, labels, { cfgScale: 4, topK: 100, temperature: 1, generator: gen });
    codes.toArray(); // wait for the result, as the Python side does with .tolist()
    const dt = performance.now() - t0;
    codes.dispose();
    if (i >= WARMUP) times.push(dt);
  }
  labels.dispose();
  torch.dispose(model.parameters());
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

export default { name: 'gpt_sample_64tok', unit: 'ms', run };

if (import.meta.url === `file://${process.argv[1]}`) console.log(run().toFixed(2));
