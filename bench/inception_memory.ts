// `node --import tsx bench/inception_memory.ts [N] [BATCH]`: memory over a folder of N generated
// 64×64 PNGs (default 300) embedded through the FID Inception (the fixture's formula weights) in
// batches of BATCH (default 25), as `d2c stats` does; prints RSS, native tensor bytes and live
// tensors after each batch. Flat RSS and native bytes growing only by the kept features show that
// each batch's images and activations are freed.
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { embedImagePath } from '../src/eval/fid_inputs.ts';
import { inceptionFeatureNetwork, loadInception } from '../src/eval/inception_network.ts';
import * as torch from '../src/torch/index.ts';
import { writeFormulaInceptionDir } from '../test/helpers/inception_formula.ts';

const n = Number(process.argv[2] ?? 300);
const batchSize = Number(process.argv[3] ?? 25);
const root = join(tmpdir(), 'd2c-inception-memory');
const dir = join(root, `images${n}`);
if (!existsSync(dir)) {
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < n; i++) {
    const px = Buffer.alloc(64 * 64 * 3);
    for (let j = 0; j < px.length; j++) px[j] = (Math.imul(i * 131 + j, 0x9e3779b1) >>> 24) & 0xff;
    await sharp(px, { raw: { width: 64, height: 64, channels: 3 } })
      .png()
      .toFile(join(dir, `${String(i).padStart(6, '0')}.png`));
  }
}
const weights = join(root, 'weights');
if (!existsSync(join(weights, 'config.json'))) writeFormulaInceptionDir(weights);
torch.setNumThreads(2);
const net = inceptionFeatureNetwork(loadInception(weights));
const t0 = performance.now();
const mb = (b: number) => Math.round(b / 2 ** 20);
const e = await embedImagePath(dir, net, {
  input: { kind: 'inception' },
  batchSize,
  onProgress: (done, total) =>
    console.log(
      JSON.stringify({
        done,
        total,
        seconds: Number(((performance.now() - t0) / 1000).toFixed(1)),
        rss_mb: mb(process.memoryUsage().rss),
        native_mb: mb(torch.liveBytes()),
        live_tensors: torch.liveTensors(),
      }),
    ),
});
torch.dispose(e);
