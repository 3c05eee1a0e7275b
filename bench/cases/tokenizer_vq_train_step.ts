// One VQ tokenizer training step on the vq_fmnist preset (32×32×1 → 8×8 codes, 512×8 l2-normalised
// codebook): encoder, quantizer (losses + usage record), decoder, L2 + VQ + commitment loss, backward,
// AdamW; batch 16, no GAN. bench/torch/tokenizer_vq_train_step.py is the same model and step in torch.nn.
import { buildTokenizer } from '../../src/tokenizers/presets.ts';
import { createTokenizerTrainState, tokenizerTrainStep, VQ_TRAIN_DEFAULTS } from '../../src/tokenizers/train_step.ts';
import * as torch from '../../src/torch/index.ts';
import { medianMs } from '../timing.ts';

const B = 16;

function run(): number {
  torch.setNumThreads(2);
  const g = new torch.Generator(0);
  const model = buildTokenizer('vq', 'vq_fmnist', {}, { generator: g });
  // No clipping: the torch twin does not clip either (clipping is one fused foreach op in both).
  const s = createTokenizerTrainState(model, { ...VQ_TRAIN_DEFAULTS, gan: null, maxGradNorm: 0 }, g);
  const x = torch.keep(torch.rand([B, 1, 32, 32], { generator: g }).mul(2).sub(1));
  const ms = medianMs(() => void tokenizerTrainStep(s, x), { warmup: 2, repeats: 7 });
  x.dispose();
  return ms;
}

export default { name: 'tokenizer_vq_train_step', unit: 'ms', run };

if (import.meta.url === `file://${process.argv[1]}`) console.log(run().toFixed(2));
