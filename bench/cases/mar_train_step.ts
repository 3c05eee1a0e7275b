// One MAR training step — mar_fmnist (width 192, 2+2 ViT blocks, buffer 16, diffusion head 3×256)
// on batch 32 × 64 tokens of 4 channels, masking ratio fixed at 0.85, diffusion_batch_mul 4:
// forward (MAE encoder/decoder + diffusion loss with learned σ) + backward + AdamW.
// bench/torch/mar_train_step.py runs the same model (bench/torch/mar_ref.py) in PyTorch eager.
import { MAR, marConfig } from '../../src/generators/mar.ts';
import { AdamW } from '../../src/optim/index.ts';
import * as torch from '../../src/torch/index.ts';
import { medianMs } from '../timing.ts';

function run(): number {
  torch.setNumThreads(2);
  const g = new torch.Generator(0);
  const m = new MAR(marConfig('mar_fmnist', { attnDropout: 0, projDropout: 0 }), { generator: g });
  const latents = torch.keep(torch.randn([32, 4, 8, 8], { generator: g }));
  const labels = torch.keep(torch.randint(0, 10, [32], { generator: g }));
  const opt = new AdamW(m.parameters(), { lr: 1e-4 });
  const ms = medianMs(
    () => {
      torch.tidy(() => {
        const x = m.patchify(latents);
        const mask = m.randomMasking(m.sampleOrders(32, g), 0.85);
        const enc = m.forwardMaeEncoder(x, mask, m.class_emb.forward(labels), null, g);
        const loss = m.forwardLoss(m.forwardMaeDecoder(enc, mask), x, mask, g);
        loss.backward();
        opt.step();
      });
      m.zeroGrad();
    },
    { warmup: 2, repeats: 9 },
  );
  torch.dispose([latents, labels]);
  return ms;
}

export default { name: 'mar_train_step', unit: 'ms', run };
