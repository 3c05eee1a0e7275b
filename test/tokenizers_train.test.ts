// Tokenizer training steps: a small VQ and a small KL tokenizer overfit one batch (the reconstruction
// loss falls 10×) with flat native memory, and the PatchGAN path runs both updates after its start step.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KLConfig } from '../src/tokenizers/kl.ts';
import { buildTokenizer } from '../src/tokenizers/presets.ts';
import {
  createTokenizerTrainState,
  KL_TRAIN_DEFAULTS,
  type TokenizerStepMetrics,
  tokenizerTrainStep,
  VQ_TRAIN_DEFAULTS,
} from '../src/tokenizers/train_step.ts';
import type { VQConfig } from '../src/tokenizers/vq.ts';
import * as torch from '../src/torch/index.ts';

torch.setNumThreads(1); // the suite shares 2 cores; oversubscribed threads are far slower than one
const S = 16;

/** `n` white discs on black, 1 channel, in [−1, 1]. */
function discs(n: number, g: torch.Generator): torch.Tensor {
  return torch.tidy(() => {
    const yy = torch.arange(S).view(1, S, 1).float();
    const xx = torch.arange(S).view(1, 1, S).float();
    const c = torch
      .rand([n, 2], { generator: g })
      .mul(S / 2)
      .add(S / 4);
    const r = torch
      .rand([n, 1, 1], { generator: g })
      .mul(S / 6)
      .add(S / 6);
    const dy = yy.sub(c.narrow(1, 0, 1).view(n, 1, 1));
    const dx = xx.sub(c.narrow(1, 1, 1).view(n, 1, 1));
    return dy.square().add(dx.square()).sqrt().lt(r).float().mul(2).sub(1).unsqueeze(1); // [n, 1, S, S]
  });
}

// Two levels (downsampling 2), one res block, 32 channels: the _fmnist architecture, shrunk for CI.
const SMALL_VQ: Partial<VQConfig> = {
  ch: 32,
  encoderChMult: [1, 1],
  decoderChMult: [1, 1],
  numResBlocks: 1,
  zChannels: 32,
  codebookSize: 64,
};
const SMALL_KL: Partial<KLConfig> = { ch: 32, chMult: [1, 1], numResBlocks: 1, resolution: S, attnResolutions: [] };

function overfit(kind: 'vq' | 'kl', steps: number): TokenizerStepMetrics[] {
  const g = new torch.Generator(0);
  const x = torch.keep(discs(4, g));
  const model = buildTokenizer(kind, `${kind}_fmnist`, kind === 'vq' ? SMALL_VQ : SMALL_KL, { generator: g });
  const base = kind === 'vq' ? VQ_TRAIN_DEFAULTS : KL_TRAIN_DEFAULTS;
  const s = createTokenizerTrainState(model, { ...base, recLoss: 'l2', lr: 3e-3, weightDecay: 0, gan: null }, g);
  const out: TokenizerStepMetrics[] = [];
  let live = 0;
  for (let i = 0; i < steps; i++) {
    out.push(tokenizerTrainStep(s, x));
    if (i === 2) live = torch.liveTensors();
  }
  assert.equal(torch.liveTensors(), live, 'live native tensors stay flat across steps');
  torch.dispose(x);
  return out;
}

test('VQ tokenizer overfits one batch: reconstruction loss falls 10×, codebook stats reported', () => {
  const m = overfit('vq', 40);
  const first = m[0].rec;
  const last = Math.min(...m.slice(-3).map((s) => s.rec));
  assert.ok(last < first / 10, `rec loss ${first} → ${last}`);
  assert.ok(m[m.length - 1].psnr > m[0].psnr + 10, `PSNR ${m[0].psnr} → ${m[m.length - 1].psnr}`);
  for (const s of m) {
    assert.ok(s.usage !== undefined && s.usage > 0 && s.usage <= 1);
    assert.ok(s.perplexity !== undefined && s.perplexity >= 1 && s.perplexity <= 64);
    assert.ok(Number.isFinite(s.vq) && Number.isFinite(s.commit));
  }
  assert.equal(m[m.length - 1].step, 40);
});

test('KL tokenizer overfits one batch: reconstruction loss falls 10×, KL reported', () => {
  const m = overfit('kl', 50);
  const first = m[0].rec;
  const last = Math.min(...m.slice(-3).map((s) => s.rec));
  assert.ok(last < first / 10, `rec loss ${first} → ${last}`);
  assert.ok(m.every((s) => s.kl !== undefined && s.kl >= 0));
});

test('PatchGAN hinge: off before the start step, then generator and discriminator updates (adaptive weight)', () => {
  const g = new torch.Generator(1);
  const x = discs(2, g);
  const model = buildTokenizer('kl', 'kl_fmnist', SMALL_KL, { generator: g });
  const gan = { start: 1, weight: 0.5, adaptive: true, ndf: 8, nLayers: 2 };
  const s = createTokenizerTrainState(model, { ...KL_TRAIN_DEFAULTS, gan }, g);
  const disc = s.disc as NonNullable<typeof s.disc>;
  const w0 = disc.stateDict().get('main.0.weight')?.clone() as torch.Tensor;
  const a = tokenizerTrainStep(s, x);
  assert.equal(a.disc, undefined, 'no GAN before the start step');
  assert.equal(disc.stateDict().get('main.0.weight')?.sub(w0).abs().max().item(), 0, 'discriminator untouched');
  const b = tokenizerTrainStep(s, x);
  assert.ok(b.disc !== undefined && Number.isFinite(b.disc) && b.disc > 0, `disc loss ${b.disc}`);
  assert.ok(b.gen !== undefined && Number.isFinite(b.gen));
  assert.ok(b.ganWeight !== undefined && b.ganWeight > 0 && b.ganWeight <= 1e4, `adaptive weight ${b.ganWeight}`);
  assert.ok((disc.stateDict().get('main.0.weight')?.sub(w0).abs().max().item() ?? 0) > 0, 'discriminator updated');
  assert.throws(() => createTokenizerTrainState(model, { ...KL_TRAIN_DEFAULTS, lr: -1 }, g), /lr/);
});
