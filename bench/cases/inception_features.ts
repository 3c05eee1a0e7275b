// pytorch-fid's FID Inception v3 (src/eval/inception.ts) on 64 images of 299×299 in [0, 1], through
// pool3 (the features FID uses), without gradients; the fixture's formula weights. The PyTorch
// twin (bench/torch/inception_features.py) runs the same network in torch.nn eval mode.
import { InceptionV3 } from '../../src/eval/inception.ts';
import * as torch from '../../src/torch/index.ts';
import { inceptionFormulaStateDict } from '../../test/helpers/inception_formula.ts';
import { medianMs } from '../timing.ts';

const B = 64;

function run(): number {
  torch.setNumThreads(2);
  const net = new InceptionV3();
  const sd = inceptionFormulaStateDict();
  net.loadStateDict(sd);
  torch.dispose([...sd.values()]);
  const x = torch.keep(torch.rand([B, 3, 299, 299], { generator: new torch.Generator(0) }));
  const ms = medianMs(() => torch.noGrad(() => torch.tidy(() => void net.forward(x))), { warmup: 1, repeats: 3 });
  x.dispose();
  return ms;
}

export default { name: 'inception_features', unit: 'ms', run };

if (import.meta.url === `file://${process.argv[1]}`) console.log(run().toFixed(2));
