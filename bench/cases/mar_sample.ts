// MAR sampling — mar_fmnist (8×8 tokens), 16 images, 16 autoregressive steps, 50 respaced diffusion
// steps per token, CFG 3 (linear), temperature 1. bench/torch/mar_sample.py runs the same loop
// (bench/torch/mar_ref.py's sample_tokens) in PyTorch eager.
import { MAR, marConfig } from '../../src/generators/mar.ts';
import { sampleTokens } from '../../src/generators/mar_sample.ts';
import * as torch from '../../src/torch/index.ts';
import { medianMs } from '../timing.ts';

function run(): number {
  torch.setNumThreads(2);
  const g = new torch.Generator(0);
  const m = new MAR(marConfig('mar_fmnist', { numSamplingSteps: '50' }), { generator: g });
  const labels = torch.keep(torch.randint(0, 10, [16], { generator: g }));
  const ms = medianMs(
    () => {
      torch.tidy(() => sampleTokens(m, 16, { labels, numIter: 16, cfg: 3, generator: g }));
    },
    { warmup: 1, repeats: 5 },
  );
  labels.dispose();
  return ms;
}

export default { name: 'mar_sample', unit: 'ms', run };
