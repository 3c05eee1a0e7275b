// Tokenizer training losses: pixel reconstruction (L1/L2), the KL term, the hinge GAN losses and
// LlamaGen's adaptive GAN weight (tokenizer/tokenizer_image/vq_loss.py, from taming-transformers),
// and reconstruction PSNR. The VQ codebook/commitment/entropy losses live with the quantizer.

import type { Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';
import type { DiagonalGaussian } from './kl.ts';

export type RecLoss = 'l1' | 'l2';

/** Mean absolute or squared pixel error. */
export function reconstructionLoss(x: Tensor, recon: Tensor, kind: RecLoss): Tensor {
  if (kind === 'l1') return torch.F.l1Loss(recon, x);
  if (kind === 'l2') return torch.F.mseLoss(recon, x);
  throw new Error(`unknown reconstruction loss '${kind}' (expected 'l1' or 'l2')`);
}

/**
 * KL(q(z|x) ‖ N(0, I)) per image, divided by the image's C·H·W elements. LDM/MAR sum both the pixel
 * loss and the KL over an image; dividing both by C·H·W keeps their ratio, so a weight of 1e-6 here
 * balances against a mean pixel loss exactly as LDM's kl_weight 1e-6 does against its summed one.
 */
export function klLoss(posterior: DiagonalGaussian, imageElems: number): Tensor {
  return posterior.kl().mean().div(imageElems);
}

/** Intermediate activations of a fixed feature network (a perceptual loss's "eyes"). */
export type FeatureMapsFn = (x: Tensor) => Tensor[];

/**
 * LPIPS-style perceptual distance without learned layer weights (LPIPS's own need VGG weights,
 * which cannot be downloaded here): at each layer the features are unit-normalised over channels
 * at every position, and the squared difference is summed over channels and averaged over
 * positions and images; the layers' values are summed. A [B, D] layer counts as one position.
 */
export function perceptualLoss(x: Tensor, recon: Tensor, net: FeatureMapsFn): Tensor {
  const fx = net(x.detach());
  const fr = net(recon);
  if (fx.length !== fr.length || fx.length === 0) throw new Error('perceptualLoss: the network returned no feature maps');
  let total: Tensor | null = null;
  for (let i = 0; i < fx.length; i++) {
    const a = unitChannels(fx[i].detach());
    const b = unitChannels(fr[i]);
    const d = a.sub(b).square().sum(1).mean();
    total = total ? total.add(d) : d;
  }
  return total as Tensor;
}

/** x / (‖x‖ over dim 1 + 1e-10), as LPIPS's normalize_tensor. */
function unitChannels(x: Tensor): Tensor {
  return x.div(x.square().sum(1, true).sqrt().add(1e-10));
}

/** Discriminator hinge loss: ½(E[relu(1 − D(x))] + E[relu(1 + D(x̂))]). */
export function hingeDLoss(logitsReal: Tensor, logitsFake: Tensor): Tensor {
  const real = logitsReal.neg().add(1).relu().mean();
  const fake = logitsFake.add(1).relu().mean();
  return real.add(fake).mul(0.5);
}

/** Generator hinge loss: −E[D(x̂)]. */
export function hingeGenLoss(logitsFake: Tensor): Tensor {
  return logitsFake.mean().neg();
}

/** The GAN weight before `start` is 0 (taming's adopt_weight). */
export function ganWeight(weight: number, step: number, start: number): number {
  return step < start ? 0 : weight;
}

/**
 * taming's adaptive weight ‖∇_last L_rec‖ / (‖∇_last L_gan‖ + 1e-4), clamped to [0, 1e4], so the GAN
 * gradient at the decoder's last layer has the reconstruction gradient's size. A plain number.
 */
export function adaptiveGanWeight(recLoss: Tensor, genLoss: Tensor, lastLayer: Tensor): number {
  const [gRec] = torch.grad(recLoss, lastLayer, { retainGraph: true });
  const [gGan] = torch.grad(genLoss, lastLayer, { retainGraph: true });
  if (!gRec || !gGan) throw new Error('adaptiveGanWeight: a loss does not depend on the last layer');
  const w = gRec.norm().item() / (gGan.norm().item() + 1e-4);
  return Math.min(Math.max(w, 0), 1e4);
}

/** Mean per-image PSNR in dB of images in [−1, 1] (mapped to [0, 1] and clipped, as image metrics do). */
export function psnr(x: Tensor, recon: Tensor): number {
  return torch.noGrad(() =>
    torch.tidy(() => {
      const a = x.add(1).div(2).clamp(0, 1);
      const b = recon.add(1).div(2).clamp(0, 1);
      const B = x.shape[0];
      const mse = a.sub(b).square().reshape(B, -1).mean(1).clamp(1e-10, null); // [B]
      return mse
        .log()
        .mul(-10 / Math.LN10)
        .mean()
        .item(); // −10·log10(mse), averaged over images
    }),
  );
}
