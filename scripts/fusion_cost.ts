// What each D2C fusion adds to MAR (docs/DESIGN.md, "D2C conditioning"): parameters, counted on the
// module built on the meta device, and forward FLOPs for one image, from the layer shapes
// (a multiply-add is 2 FLOPs; LayerNorms, softmax and the diffusion head left out). Each fusion is
// the variant `train stage2 --fusion F` builds (FUSION_VARIANTS: crossattn and qformer local, the
// Q-Former with one query per grid cell added like `add`). Local attention is computed densely
// under a mask, so its FLOPs are global attention's.
//   npx tsx scripts/fusion_cost.ts [models/d2c-fmnist/stage2/config.json | PRESET]
import { readFileSync } from 'node:fs';
import { FUSIONS, type Fusion, fusionConfig } from '../src/generators/fusion.ts';
import { MAR, type MARConfig, marConfig } from '../src/generators/mar.ts';

const arg = process.argv[2] ?? 'models/d2c-fmnist/stage2/config.json';
const base: MARConfig = arg.endsWith('.json') ? (JSON.parse(readFileSync(arg, 'utf8')).config as MARConfig) : marConfig(arg);

const linear = (n: number, din: number, dout: number) => 2 * n * din * dout;
const attend = (n: number, m: number, d: number) => 2 * 2 * n * m * d; // scores and weighted sum
const selfAttn = (n: number, d: number) => linear(n, d, 3 * d) + attend(n, n, d) + linear(n, d, d);
const crossAttn = (n: number, m: number, d: number, dc: number) =>
  linear(n, d, d) + linear(m, dc, 2 * d) + attend(n, m, d) + linear(n, d, d);
const mlp = (n: number, d: number, r: number) => 2 * linear(n, d, Math.trunc(d * r));
const block = (n: number, d: number, r: number) => selfAttn(n, d) + mlp(n, d, r);

/**
 * Forward FLOPs of one image with `kept` known tokens: [MAR backbone, what runs once per image (the
 * discrete encoder, and the per-cell Q-Former), the fusion at each MAR forward].
 */
function flops(c: MARConfig, fusion: Fusion, kept: number): [number, number, number] {
  const L = (c.imgSize / c.vaeStride / c.patchSize) ** 2;
  const [De, Dd, Dc, buf, r] = [c.encoderEmbedDim, c.decoderEmbedDim, c.discEmbedDim, c.bufferSize, c.mlpRatio];
  const Te = buf + kept; // encoder tokens (MAE drops the masked ones)
  const Td = buf + L; // decoder tokens
  const backbone =
    linear(L, c.vaeEmbedDim * c.patchSize ** 2, De) +
    c.encoderDepth * block(Te, De, r) +
    linear(Te, De, Dd) +
    c.decoderDepth * block(Td, Dd, r);
  if (fusion === 'none') return [backbone, 0, 0];
  const Q = c.qformerQueries || (c.qformerPlace === 'add' ? L : buf);
  const qformer = c.qformerDepth * (selfAttn(Q, De) + crossAttn(Q, L, De, Dc) + mlp(Q, De, r));
  // the per-cell Q-Former reads only the codes, so it runs with the discrete encoder, once per image
  const perImage = c.discDepth * block(L, Dc, r) + (fusion === 'qformer' && c.qformerPlace === 'add' ? qformer : 0);
  const extra: Record<Exclude<Fusion, 'none'>, number> = {
    crossattn: c.encoderDepth * crossAttn(Te, L, De, Dc) + c.decoderDepth * crossAttn(Td, L, Dd, Dc),
    // buffer placement: at each forward, as the paper's; per cell: its outputs added like `add`'s features
    qformer: c.qformerPlace === 'add' ? linear(L, De, De) + linear(L, De, Dd) : qformer,
    add: linear(L, Dc, De) + linear(L, Dc, Dd),
    // L more tokens through every encoder and decoder block (attention grows quadratically)
    prefix:
      linear(L, Dc, De) +
      c.encoderDepth * (block(Te + L, De, r) - block(Te, De, r)) +
      linear(L, De, Dd) +
      c.decoderDepth * (block(Td + L, Dd, r) - block(Td, Dd, r)),
  };
  if (!(fusion in extra)) throw new Error(`no FLOP count for fusion '${fusion}': add it to scripts/fusion_cost.ts`);
  return [backbone, perImage, extra[fusion as Exclude<Fusion, 'none'>]];
}

const variant = (fusion: Fusion): MARConfig => ({ ...base, ...fusionConfig(fusion) }) as MARConfig;
const params = (c: MARConfig) => new MAR(c, { device: 'meta' }).numParameters();
const plain = params(variant('none'));
const L = (base.imgSize / base.vaeStride / base.patchSize) ** 2;
const M = (x: number) => Math.round(x / 1e4) / 100; // millions, 2 decimals
for (const fusion of FUSIONS) {
  const c = variant(fusion);
  const p = params(c);
  const [backbone, disc, fuse] = flops(c, fusion, L); // every token known: the heaviest MAR step
  const [, , fuseTrain] = flops(c, fusion, Math.round(L * 0.15));
  console.log(
    JSON.stringify({
      fusion,
      params_M: M(p),
      added_params_M: M(p - plain),
      backbone_MFLOPs: M(backbone),
      per_image_MFLOPs: M(disc),
      fusion_MFLOPs_all_known: M(fuse),
      fusion_MFLOPs_15pct_known: M(fuseTrain),
    }),
  );
}
