// The tokenizers against the reference fixtures: the same weights give the same pre-quant features,
// codes, quantised map and images (LlamaGen VQ), and the same posterior and image (MAR KL-VAE), to
// max|a−b| ≤ 1e-4·max(1, max|b|); the weight files load with strict names.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AutoencoderKL } from '../src/tokenizers/kl.ts';
import { buildTokenizer } from '../src/tokenizers/presets.ts';
import type { VQModel } from '../src/tokenizers/vq.ts';
import * as torch from '../src/torch/index.ts';

const REF = 'test/fixtures/reference';

function assertRel(a: torch.Tensor, b: torch.Tensor, what: string, tol = 1e-4): void {
  assert.deepEqual(a.shape, b.shape, `${what}: shape [${a.shape}] vs [${b.shape}]`);
  const err = a.sub(b).abs().max().item();
  const scale = Math.max(1, b.abs().max().item());
  assert.ok(err <= tol * scale, `${what}: max|a-b| = ${err} > ${tol} * ${scale}`);
}

function loadVQ(): VQModel {
  const m = buildTokenizer('vq', 'vq_tiny') as VQModel;
  m.loadStateDict(torch.loadSafetensors(`${REF}/llamagen_vq_tiny.weights.safetensors`), true);
  return m.eval();
}

test('VQ (LlamaGen vq_model.py): pre-quant, codes, quant, decoded and decoded-from-codes match the reference', () => {
  const vq = loadVQ();
  const io = torch.loadSafetensors(`${REF}/llamagen_vq_tiny.io.safetensors`);
  torch.noGrad(() =>
    torch.tidy(() => {
      const enc = vq.encode(io.get('image') as torch.Tensor);
      assertRel(enc.preQuant, io.get('pre_quant') as torch.Tensor, 'pre_quant');
      const idx = io.get('indices') as torch.Tensor;
      assert.equal(enc.indices.dtype, 'int64');
      assert.equal(enc.indices.ne(idx).sum().item(), 0, 'indices differ from the reference');
      assertRel(enc.quant, io.get('quant') as torch.Tensor, 'quant');
      assert.equal(enc.losses, null, 'eval mode computes no losses');
      assertRel(vq.decode(enc.quant), io.get('decoded') as torch.Tensor, 'decoded');
      assertRel(vq.decodeCodes(idx), io.get('decoded_from_codes') as torch.Tensor, 'decoded_from_codes');
    }),
  );
});

test('KL-VAE (MAR vae.py): posterior mean, logvar and decoded image match the reference', () => {
  const kl = buildTokenizer('kl', 'kl_tiny') as AutoencoderKL;
  kl.loadStateDict(torch.loadSafetensors(`${REF}/mar_vae_tiny.weights.safetensors`), true);
  kl.eval();
  const io = torch.loadSafetensors(`${REF}/mar_vae_tiny.io.safetensors`);
  torch.noGrad(() =>
    torch.tidy(() => {
      const post = kl.encode(io.get('image') as torch.Tensor);
      assertRel(post.mean, io.get('posterior_mean') as torch.Tensor, 'posterior_mean');
      assertRel(post.logvar, io.get('posterior_logvar') as torch.Tensor, 'posterior_logvar');
      assertRel(post.mode(), io.get('posterior_mean') as torch.Tensor, 'mode');
      assertRel(kl.decode(post.mean), io.get('decoded') as torch.Tensor, 'decoded');
      // encodeLatents/decodeLatents apply the scale factor and invert it.
      const z = kl.encodeLatents(io.get('image') as torch.Tensor);
      assertRel(z, post.mean.mul(kl.config.scaleFactor), 'scaled latents');
      assertRel(kl.decodeLatents(z), io.get('decoded') as torch.Tensor, 'decodeLatents');
    }),
  );
});

test('strict loading names every missing, unexpected and mis-shaped key', () => {
  const sd = torch.loadSafetensors(`${REF}/llamagen_vq_tiny.weights.safetensors`);
  const vq = buildTokenizer('vq', 'vq_tiny') as VQModel;
  const broken = new Map(sd);
  broken.delete('quantize.embedding.weight');
  broken.set('encoder.conv_blocks.0.res.0.nin_shortcut.weight', torch.zeros([32, 32, 1, 1]));
  broken.set('quant_conv.weight', torch.zeros([8, 16, 1, 1]));
  assert.throws(
    () => vq.loadStateDict(broken, true),
    (e: Error) =>
      /missing key quantize\.embedding\.weight/.test(e.message) &&
      /unexpected key encoder\.conv_blocks\.0\.res\.0\.nin_shortcut\.weight/.test(e.message) &&
      /shape mismatch quant_conv\.weight/.test(e.message),
  );
  // A MAR KL state dict is not a VQ one: the container names differ (down/up/block vs conv_blocks/res).
  const klsd = torch.loadSafetensors(`${REF}/mar_vae_tiny.weights.safetensors`);
  assert.throws(() => vq.loadStateDict(klsd, true), /unexpected key encoder\.down\.0\.block\.0\.norm1\.weight/);
});

test('bad inputs fail early with the expected shape in the message', () => {
  const vq = loadVQ();
  torch.noGrad(() => {
    assert.throws(
      () => vq.encode(torch.zeros([1, 1, 16, 16])),
      /expected \[B, 3, H, W\] with H, W multiples of 2, got \[1,1,16,16\]/,
    );
    assert.throws(
      () => vq.decodeCodes(torch.full([1, 2, 2], 64, { dtype: 'int64' })),
      /indices must lie in \[0, 64\), got \[64, 64\]/,
    );
  });
  assert.throws(() => buildTokenizer('vq', 'vq99'), /unknown VQ preset 'vq99'/);
  assert.throws(() => buildTokenizer('kl', 'kl16', { embedDim: 0 }), /embedDim must be positive/);
});
