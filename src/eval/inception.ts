// pytorch-fid's Inception v3 (mseitzer/pytorch-fid, src/pytorch_fid/inception.py): torchvision's
// Inception3 with 1008 classes, no aux logits, and the FID variants of Mixed_5b–5d, 6b–6e, 7b, 7c
// (inception_blocks.ts), holding the state-dict names of `pt_inception-2015-12-05-6726825d.pth`,
// the TensorFlow FID graph's weights. It is the feature network of Inception FID/KID (pool3, 2048-d)
// and of the Inception Score (the 1008-way softmax).
// Input path as pytorch-fid's: images in [0, 1], a bilinear resize to 299×299 (align_corners false),
// then 2x − 1; grayscale images are repeated to 3 channels (as PIL's convert('RGB')).

import { Linear } from '../nn/layers.ts';
import { Module } from '../nn/module.ts';
import type { Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';
import { BasicConv2d, InceptionA, InceptionB, InceptionC, InceptionD, InceptionE } from './inception_blocks.ts';

export const INCEPTION_SIZE = 299;
export const INCEPTION_CLASSES = 1008;
export const POOL3_DIM = 2048;

export interface InceptionOutputs {
  /** After maxpool1 [B, 64, 73, 73], maxpool2 [B, 192, 35, 35], Mixed_6e [B, 768, 17, 17]; only those asked for. */
  blocks: (Tensor | null)[];
  /** pool3 features [B, 2048] (block 3, flattened). */
  pool3: Tensor;
  /** fc(pool3) [B, 1008]; present when asked for. */
  logits: Tensor | null;
}

export class InceptionV3 extends Module {
  readonly Conv2d_1a_3x3 = this.registerModule('Conv2d_1a_3x3', new BasicConv2d(3, 32, { kernel: 3, stride: 2 }));
  readonly Conv2d_2a_3x3 = this.registerModule('Conv2d_2a_3x3', new BasicConv2d(32, 32, { kernel: 3 }));
  readonly Conv2d_2b_3x3 = this.registerModule('Conv2d_2b_3x3', new BasicConv2d(32, 64, { kernel: 3, padding: 1 }));
  readonly Conv2d_3b_1x1 = this.registerModule('Conv2d_3b_1x1', new BasicConv2d(64, 80, { kernel: 1 }));
  readonly Conv2d_4a_3x3 = this.registerModule('Conv2d_4a_3x3', new BasicConv2d(80, 192, { kernel: 3 }));
  readonly Mixed_5b = this.registerModule('Mixed_5b', new InceptionA(192, 32));
  readonly Mixed_5c = this.registerModule('Mixed_5c', new InceptionA(256, 64));
  readonly Mixed_5d = this.registerModule('Mixed_5d', new InceptionA(288, 64));
  readonly Mixed_6a = this.registerModule('Mixed_6a', new InceptionB(288));
  readonly Mixed_6b = this.registerModule('Mixed_6b', new InceptionC(768, 128));
  readonly Mixed_6c = this.registerModule('Mixed_6c', new InceptionC(768, 160));
  readonly Mixed_6d = this.registerModule('Mixed_6d', new InceptionC(768, 160));
  readonly Mixed_6e = this.registerModule('Mixed_6e', new InceptionC(768, 192));
  readonly Mixed_7a = this.registerModule('Mixed_7a', new InceptionD(768));
  readonly Mixed_7b = this.registerModule('Mixed_7b', new InceptionE(1280, 'avg'));
  readonly Mixed_7c = this.registerModule('Mixed_7c', new InceptionE(2048, 'max'));
  readonly fc = this.registerModule('fc', new Linear(POOL3_DIM, INCEPTION_CLASSES));

  constructor() {
    super();
    for (const p of this.parameters()) p.requiresGrad = false;
    this.eval();
  }

  /** Loads weights and drops the BatchNorm-folded copies made from the previous ones. */
  override loadStateDict(sd: Map<string, Tensor> | Record<string, Tensor>, strict = true) {
    const r = super.loadStateDict(sd, strict);
    for (const [, m] of this.namedModules()) if (m instanceof BasicConv2d) m.unfold();
    return r;
  }

  /**
   * The network from its 299×299 input in [−1, 1] ([B, 3, 299, 299]); `blocks` lists the block
   * outputs (0–2) to return as well, `logits` whether to apply fc.
   */
  forwardNormalized(x: Tensor, o: { blocks?: number[]; logits?: boolean } = {}): InceptionOutputs {
    const want = new Set(o.blocks ?? []);
    const blocks: (Tensor | null)[] = [null, null, null];
    return torch.tidy(() => {
      const step = (h: Tensor, f: (t: Tensor) => Tensor) => {
        const next = f(h);
        if (h !== x && !blocks.includes(h)) torch.release(h);
        return next;
      };
      let h = x;
      for (const l of [this.Conv2d_1a_3x3, this.Conv2d_2a_3x3, this.Conv2d_2b_3x3]) h = step(h, (t) => l.forward(t));
      h = step(h, (t) => torch.F.maxPool2d(t, 3, 2));
      if (want.has(0)) blocks[0] = h;
      for (const l of [this.Conv2d_3b_1x1, this.Conv2d_4a_3x3]) h = step(h, (t) => l.forward(t));
      h = step(h, (t) => torch.F.maxPool2d(t, 3, 2));
      if (want.has(1)) blocks[1] = h;
      for (const m of [this.Mixed_5b, this.Mixed_5c, this.Mixed_5d, this.Mixed_6a, this.Mixed_6b, this.Mixed_6c, this.Mixed_6d])
        h = step(h, (t) => m.forward(t));
      h = step(h, (t) => this.Mixed_6e.forward(t));
      if (want.has(2)) blocks[2] = h;
      for (const m of [this.Mixed_7a, this.Mixed_7b, this.Mixed_7c]) h = step(h, (t) => m.forward(t));
      const pool3 = h.mean([2, 3]); // AdaptiveAvgPool2d(1) + flatten
      const logits = o.logits ? this.fc.forward(pool3) : null;
      return { blocks, pool3, logits };
    });
  }

  /** pytorch-fid's InceptionV3.forward: images [B, 1 | 3, H, W] in [0, 1] → resize to 299, 2x − 1, network. */
  forward(images01: Tensor, o: { blocks?: number[]; logits?: boolean } = {}): InceptionOutputs {
    return torch.tidy(() => this.forwardNormalized(toInceptionInput(images01), o));
  }

  /** Logits without fc's bias, pool3 · Wᵀ: what the Inception Score uses (torch-fidelity, the ADM evaluator). */
  unbiasedLogits(pool3: Tensor): Tensor {
    return pool3.matmul(this.fc.weight.t());
  }
}

/**
 * Images [B, 1 | 3, H, W] in [0, 1] (`range` '0to1', pytorch-fid's input) or [−1, 1] ('minus1to1',
 * what d2c's generators produce) → the network's input [B, 3, 299, 299] in [−1, 1].
 */
export function toInceptionInput(images: Tensor, range: '0to1' | 'minus1to1' = '0to1'): Tensor {
  return torch.tidy(() => {
    const [b, c, h, w] = images.shape;
    if (images.ndim !== 4 || (c !== 1 && c !== 3))
      throw new Error(`InceptionV3: expected images [B, 1 or 3, H, W], got [${images.shape.join(', ')}]`);
    let x = images.to('float32');
    if (c === 1) x = x.expand(b, 3, h, w);
    // Bilinear to the same size is the identity (source index = destination index): skip it.
    if (h !== INCEPTION_SIZE || w !== INCEPTION_SIZE) x = torch.F.interpolateBilinear(x, [INCEPTION_SIZE, INCEPTION_SIZE], false);
    return (range === '0to1' ? x.mul(2).sub(1) : x).contiguous();
  });
}
