// The FID Inception as a FeatureNetwork (`fid_inception`, `is_inception`, ...): pool3 features and the
// Inception Score's softmax, from one forward per batch; and its weights folder, made from pytorch-fid's
// `pt_inception-2015-12-05-6726825d.pth` by scripts/convert_checkpoint.py --kind inception.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonFile } from '../io/json_file.ts';
import type { Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';
import type { FeatureNetwork } from './feature_network.ts';
import { InceptionV3, POOL3_DIM, toInceptionInput } from './inception.ts';

export const DEFAULT_INCEPTION_DIR = 'models/pt-inception';
export const INCEPTION_WEIGHTS_FILE = 'pt_inception-2015-12-05-6726825d.pth';
const WEIGHTS_URL = `https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/${INCEPTION_WEIGHTS_FILE}`;
/** torch-fidelity's seed for the sample order of the Inception Score's splits. */
export const IS_SHUFFLE_SEED = 2020;

/** What to do when the weights folder is missing: download the .pth, then convert it. */
export function inceptionMissingMessage(dir: string): string {
  return (
    `the FID Inception weights are not in ${dir}: download ${INCEPTION_WEIGHTS_FILE} (pytorch-fid's ` +
    `fid_weights release, ${WEIGHTS_URL}), then run ` +
    `\`.venv/bin/python scripts/convert_checkpoint.py --kind inception ${INCEPTION_WEIGHTS_FILE} ${dir}\``
  );
}

/** Loads a converted weights folder (config.json of kind "inception" + model.safetensors), strictly. */
export function loadInception(dir = DEFAULT_INCEPTION_DIR): InceptionV3 {
  const cfgPath = join(dir, 'config.json');
  const wPath = join(dir, 'model.safetensors');
  if (!existsSync(cfgPath) || !existsSync(wPath)) throw new Error(inceptionMissingMessage(dir));
  const kind = (readJsonFile(cfgPath) as { kind?: string }).kind;
  if (kind !== 'inception')
    throw new Error(`${cfgPath} has kind "${kind}", expected "inception" (${inceptionMissingMessage(dir)})`);
  const net = new InceptionV3();
  const sd = torch.loadSafetensors(wPath);
  try {
    torch.tidy(() => net.loadStateDict(new Map([...sd].map(([k, t]) => [k, t.dtype === 'int64' ? t : t.to('float32')]))));
  } catch (e) {
    throw new Error(`${wPath}: not the FID Inception's weights (${(e as Error).message.split('\n').slice(0, 3).join('; ')})`);
  } finally {
    torch.dispose([...sd.values()]);
  }
  return net;
}

/**
 * The network as a FeatureNetwork named `inception`. Its input is d2c's [−1, 1] range: the resize
 * to 299 and the scaling commute (bilinear weights sum to 1), so pytorch-fid's [0, 1] → resize →
 * 2x − 1 is the resize of the [−1, 1] image. The IS probabilities are the softmax of pool3 · fcᵀ
 * without fc's bias, as torch-fidelity and the ADM evaluator compute them.
 */
export function inceptionFeatureNetwork(net: InceptionV3): FeatureNetwork {
  net.eval();
  const run = (images: Tensor) =>
    torch.tidy(() => {
      const { pool3 } = net.forwardNormalized(toInceptionInput(images, 'minus1to1'));
      return { features: pool3, probs: net.unbiasedLogits(pool3).softmax(-1) };
    });
  return {
    name: 'inception',
    featureDim: POOL3_DIM,
    features: (x) => torch.tidy(() => net.forwardNormalized(toInceptionInput(x, 'minus1to1')).pool3),
    probs: (x) => run(x).probs,
    embedBatch: run,
    isShuffleSeed: IS_SHUFFLE_SEED,
  };
}
