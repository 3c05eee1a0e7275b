// The oracle arm of the stage-2 study (`d2c eval --oracle`): stage 2 is conditioned on the real VQ
// codes of real images instead of stage 1's draws, so what it does with perfect codes is measured
// apart from stage 1's errors. Besides the images (scored like any sampler's), it accumulates the
// squared errors behind five PSNRs: the output against the originals, against the VQ and the KL
// reconstructions, and the two reconstructions against the originals. A sampler p(x | codes)
// that were exact would reach psnr ≥ vq_recon_psnr − 3.01 dB (E‖x̂ − x‖² = 2·E‖x − E[x|codes]‖²).

import type { ArrayImageSet } from '../data/dataset.ts';
import { uint8ToUnit } from '../eval/feature_network.ts';
import type { Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';
import type { D2C, GenerateOptions } from './d2c.ts';

export interface OraclePsnr {
  psnr: number;
  psnr_vq_recon: number;
  psnr_kl_recon: number;
  vq_recon_psnr: number;
  kl_recon_psnr: number;
}

/** PSNR in dB of images in [−1, 1] (peak-to-peak 2) from a summed squared error over `count` values. */
export function psnrFromSquaredError(sum: number, count: number): number {
  return 10 * Math.log10(4 / Math.max(sum / count, 1e-12));
}

/**
 * A sampler for evaluateSamples that answers each requested class with the next real image of that
 * class (in the set's order: the first n/K of each class for n class-balanced samples), generates
 * from that image's VQ codes, and records the errors; `psnr()` reads them.
 */
export function oracleSampler(
  model: D2C,
  set: ArrayImageSet,
  options: (classes: number[], seed: number) => GenerateOptions,
): { sampler: (classes: number[], seed: number) => Promise<Tensor>; psnr: () => OraclePsnr } {
  if (!model.vq || model.marOnly) throw new Error(`--oracle: ${model.info.name} is a MAR-only model: it has no codes to give`);
  const vq = model.vq;
  const byClass: number[][] = set.classes.map(() => []);
  set.labels.forEach((l, i) => {
    byClass[l].push(i);
  });
  const cursor = byClass.map(() => 0);
  const per = set.channels * set.size * set.size;
  const sums = { psnr: 0, psnr_vq_recon: 0, psnr_kl_recon: 0, vq_recon_psnr: 0, kl_recon_psnr: 0 };
  let values = 0;
  const sampler = async (classes: number[], seed: number): Promise<Tensor> => {
    const buf = new Uint8Array(classes.length * per);
    classes.forEach((c, j) => {
      const list = byClass[c];
      if (!list || cursor[c] >= list.length)
        throw new Error(`--oracle: ${set.name} has only ${list?.length ?? 0} images of class ${c}; use a smaller --n`);
      const i = list[cursor[c]++];
      buf.set(set.pixels.subarray(i * per, (i + 1) * per), j * per);
    });
    return torch.noGrad(() =>
      torch.tidy(() => {
        const x = uint8ToUnit(torch.fromBuffer(buf, [classes.length, set.channels, set.size, set.size], 'uint8'));
        const codes = vq.encodeCodes(x).flatten(1); // [B, L]
        const vqRecon = model.decodeCodes(codes);
        const klRecon = model.kl.decode(model.kl.encode(x).mode()).clamp(-1, 1);
        const r = model.generate({ ...options(classes, seed), codes });
        const out = r.images;
        const se = (a: Tensor, b: Tensor) => a.sub(b).square().sum().item();
        sums.psnr += se(out, x);
        sums.psnr_vq_recon += se(out, vqRecon);
        sums.psnr_kl_recon += se(out, klRecon);
        sums.vq_recon_psnr += se(vqRecon, x);
        sums.kl_recon_psnr += se(klRecon, x);
        values += x.numel;
        return out;
      }),
    );
  };
  const psnr = (): OraclePsnr => {
    if (values === 0) throw new Error('oracleSampler: nothing sampled yet');
    const p = (k: keyof typeof sums) => psnrFromSquaredError(sums[k], values);
    return {
      psnr: p('psnr'),
      psnr_vq_recon: p('psnr_vq_recon'),
      psnr_kl_recon: p('psnr_kl_recon'),
      vq_recon_psnr: p('vq_recon_psnr'),
      kl_recon_psnr: p('kl_recon_psnr'),
    };
  };
  return { sampler, psnr };
}
