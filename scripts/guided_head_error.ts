// How much of the guidance a distilled head (DiffLoss.guided_net) has learned: for the first 128
// images of a token cache, at several masking ratios and guidance scales, the student's mean squared
// error against the guided teacher, the energy of the guidance term (w − 1)(ε_c − ε_u) itself, and
// their ratio (1: the student ignores the guidance; 0: it reproduces it).
//   npx tsx scripts/guided_head_error.ts STAGE2_DIR [CACHE=runs/fmnist-cache]
import type { MAR } from '../src/generators/mar.ts';
import { loadTokenCache } from '../src/pipeline/cache.ts';
import { loadPart } from '../src/pipeline/parts.ts';
import * as torch from '../src/torch/index.ts';

torch.setNumThreads(1);
const { model: m } = loadPart<MAR>(process.argv[2], { ema: process.env.LIVE !== '1' });
m.eval();
const { meta, data } = loadTokenCache(process.argv[3] ?? 'runs/fmnist-cache');
if (!m.diffloss.guided_net) throw new Error(`${process.argv[2]} has no distilled head`);
const B = 128;
const g = new torch.Generator(123);
torch.noGrad(() => {
  const lat = data.mean.narrow(0, 0, B).mul(meta.scaleFactor);
  const labels = data.labels.narrow(0, 0, B);
  const codes = data.codes.narrow(0, 0, B);
  const x = m.patchify(lat);
  const C = x.shape[2];
  const d = m.diffloss;
  for (const ratio of [1, 0.9, 0.7, 0.4, 0.15]) {
    torch.tidy(() => {
      const mask = m.randomMasking(m.sampleOrders(B, g), ratio);
      const cls = torch.cat([m.class_emb.forward(labels), m.fake_latent.expand(B, m.cfg.encoderEmbedDim)], 0);
      const Fc = m.encodeCondition(codes) as torch.Tensor;
      const F = torch.cat([Fc, m.nullCondition(B) as torch.Tensor], 0);
      const m2 = torch.cat([mask, mask], 0);
      const z = m.forwardMaeDecoder(m.forwardMaeEncoder(torch.cat([x, x], 0), m2, cls, F), m2, F);
      const sel = mask.ne(0);
      const [c, u] = z.split(B, 0);
      const zc = c.index([sel]);
      const zu = u.index([sel]);
      const x0 = x.index([sel]).reshape(-1, C);
      const n = x0.shape[0];
      const row: string[] = [];
      for (const w of [1.5, 2.25, 3]) {
        const t = torch.randint(0, 1000, [n], { generator: g });
        const xt = d.trainDiffusion.qSample(x0, t, torch.randn([n, C], { generator: g }));
        const oc = d.net.forward(xt, t, zc).narrow(1, 0, C);
        const ou = d.net.forward(xt, t, zu).narrow(1, 0, C);
        const target = ou.add(oc.sub(ou).mul(w));
        const st = (d.guided_net as NonNullable<typeof d.guided_net>).forward(xt, t, zc, torch.full([n], w)).narrow(1, 0, C);
        const err = st.sub(target).square().mean().item();
        const energy = oc
          .sub(ou)
          .mul(w - 1)
          .square()
          .mean()
          .item();
        row.push(`w ${w}: err ${err.toFixed(4)} guidance ${energy.toFixed(4)} (rel ${(err / energy).toFixed(2)})`);
      }
      console.log(`mask ${ratio}: ${row.join(' | ')}`);
    });
  }
});
