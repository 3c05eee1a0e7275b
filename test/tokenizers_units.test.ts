// Tokenizer pieces in isolation: codebook usage statistics, straight-through gradients, the entropy
// and KL terms (expected values computed with PyTorch from LlamaGen's/MAR's formulas), seeded
// posterior samples, the GAN losses, PSNR and the PatchGAN discriminator's names.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NLayerDiscriminator } from '../src/tokenizers/discriminator.ts';
import { DiagonalGaussian } from '../src/tokenizers/kl.ts';
import { hingeDLoss, hingeGenLoss, psnr, reconstructionLoss } from '../src/tokenizers/losses.ts';
import { buildTokenizer } from '../src/tokenizers/presets.ts';
import { entropyLoss, USAGE_WINDOW, VectorQuantizer } from '../src/tokenizers/quantizer.ts';
import type { VQModel } from '../src/tokenizers/vq.ts';
import * as torch from '../src/torch/index.ts';

/** A quantizer whose codebook is the one-hot rows of I₈ (so entry i is nearest to a map of e_i). */
function oneHotQuantizer(): VectorQuantizer {
  const q = new VectorQuantizer({ codebookSize: 8, embedDim: 8, beta: 0.25, entropyLossRatio: 0, l2Norm: true, showUsage: true });
  torch.noGrad(() => q.embedding.weight.copy_(torch.eye(8)));
  return q;
}

/** A [1, 8, 1, n] map whose position j is (a scaled) e_{codes[j]}. */
function mapOf(codes: number[]): torch.Tensor {
  return torch
    .eye(8)
    .index([torch.tensor(codes, { dtype: 'int64' })])
    .mul(3)
    .t()
    .reshape(1, 8, 1, codes.length);
}

test('codebook usage: batch usage, perplexity and the rolling 65536-entry window', () => {
  const q = oneHotQuantizer().train();
  torch.noGrad(() => {
    const a = q.forward(mapOf([1, 2, 3, 1]));
    assert.deepEqual(a.indices.toArray(), [1, 2, 3, 1]);
    assert.equal(a.stats?.batchUsage, 3 / 8);
    // histogram (½, ¼, ¼): exp(entropy) = 2^1.5
    assert.ok(Math.abs((a.stats?.perplexity ?? 0) - 2 ** 1.5) < 1e-9, `perplexity ${a.stats?.perplexity}`);
    // The window starts as zeros, so code 0 counts as used, as in LlamaGen.
    assert.equal(a.stats?.usage, 4 / 8);
    const b = q.forward(mapOf([5, 6]));
    assert.equal(b.stats?.batchUsage, 2 / 8);
    assert.equal(b.stats?.usage, 6 / 8);
    const tail = q.codebookUsed?.narrow(0, USAGE_WINDOW - 6, 6).toArray();
    assert.deepEqual(tail, [1, 2, 3, 1, 5, 6]);
  });
  q.eval();
  torch.noGrad(() => assert.equal(q.forward(mapOf([7])).stats, null, 'eval mode records nothing'));
  assert.equal(q.codebookUsed?.narrow(0, USAGE_WINDOW - 1, 1).item(), 6);
});

test('VQ losses: codebook loss moves only the codebook, commitment only the encoder side', () => {
  const q = oneHotQuantizer().train();
  const z = mapOf([1, 2])
    .add(torch.full([1, 8, 1, 2], 0.1))
    .requiresGrad_();
  const out = q.forward(z);
  const losses = out.losses as NonNullable<typeof out.losses>;
  const [gz] = torch.grad(losses.vq, [z], { retainGraph: true, allowUnused: true });
  assert.equal(gz, null, 'the codebook loss does not reach z');
  const [ge] = torch.grad(losses.commit, [q.embedding.weight], { allowUnused: true });
  assert.equal(ge, null, 'the commitment loss does not reach the codebook');
  assert.ok(losses.commit.item() > 0);
  assert.ok(Math.abs(losses.commit.item() - 0.25 * losses.vq.item()) < 1e-7, 'commit = β · vq in value');
});

test('VQ straight-through: the reconstruction gradient reaches the encoder but not the codebook', () => {
  const g = new torch.Generator(3);
  const vq = buildTokenizer('vq', 'vq_tiny', {}, { generator: g }) as VQModel;
  vq.train();
  const x = torch.rand([1, 3, 16, 16], { generator: g }).mul(2).sub(1);
  const { recon, enc } = vq.forward(x);
  torch.F.mseLoss(recon, x).backward();
  const gin = vq.encoder.convIn.weight.grad;
  assert.ok(gin && gin.abs().sum().item() > 0, 'encoder.conv_in gets a gradient through the quantizer');
  assert.ok((vq.quantConv.weight.grad?.abs().sum().item() ?? 0) > 0, 'quant_conv gets a gradient');
  assert.equal(vq.quantize.embedding.weight.grad, null, 'only the VQ loss trains the codebook');
  // The quantised map the decoder sees is exactly the (l2-normalised) codebook entries.
  const entries = torch.noGrad(() => vq.quantize.lookup(enc.indices));
  assert.ok(enc.quant.detach().sub(entries).abs().max().item() < 1e-6);
});

test('entropy loss equals LlamaGen compute_entropy_loss', () => {
  const a = torch.tensor([
    [0.01, 0.02, -0.01, 0.0],
    [0.03, -0.02, 0.0, 0.01],
    [0.0, 0.0, 0.02, -0.03],
  ]);
  const v = entropyLoss(a).item();
  assert.ok(Math.abs(v - -0.5231032371520996) < 1e-5, `entropy loss ${v}`);
});

test('DiagonalGaussian: clamped logvar, KL as MAR, seeded samples are reproducible', () => {
  const moments = torch.tensor([0.5, -1.0, 0.2, -3.0], { shape: [1, 4, 1, 1] });
  const post = new DiagonalGaussian(moments);
  assert.ok(Math.abs(post.kl().item() - 1.6605949401855469) < 1e-5, `kl ${post.kl().item()}`);
  const extreme = new DiagonalGaussian(torch.tensor([0, 0, -100, 100], { shape: [1, 4, 1, 1] }));
  assert.deepEqual(extreme.logvar.toArray(), [-30, 20]);

  const m = new DiagonalGaussian(torch.randn([2, 8, 4, 4], { generator: new torch.Generator(1) }));
  const a = m.sample(new torch.Generator(42));
  const b = m.sample(new torch.Generator(42));
  const c = m.sample(new torch.Generator(43));
  assert.equal(a.sub(b).abs().max().item(), 0, 'the same seed gives the same sample');
  assert.ok(a.sub(c).abs().max().item() > 0.1, 'another seed gives another sample');
  // (sample − mean) / std is standard normal.
  const big = new DiagonalGaussian(torch.zeros([4, 2, 32, 32]).add(torch.tensor([1, -2], { shape: [1, 2, 1, 1] })));
  const eps = big.sample(new torch.Generator(5)).sub(big.mean).div(big.std);
  assert.ok(Math.abs(eps.mean().item()) < 0.05 && Math.abs(eps.std().item() - 1) < 0.05);
});

test('reconstruction, hinge losses and PSNR', () => {
  const x = torch.tensor([0, 0.5, -1, 1]);
  const y = torch.tensor([0.5, 0.5, -0.5, 0]);
  assert.ok(Math.abs(reconstructionLoss(x, y, 'l1').item() - 0.5) < 1e-7);
  assert.ok(Math.abs(reconstructionLoss(x, y, 'l2').item() - 0.375) < 1e-7);
  assert.throws(() => reconstructionLoss(x, y, 'l3' as 'l1'), /unknown reconstruction loss 'l3'/);
  // ½(mean relu(1 − r) + mean relu(1 + f)) with r = [2, 0], f = [−2, 0.5] → ½(0.5 + 0.75)
  assert.ok(Math.abs(hingeDLoss(torch.tensor([2, 0]), torch.tensor([-2, 0.5])).item() - 0.625) < 1e-7);
  assert.ok(Math.abs(hingeGenLoss(torch.tensor([1, 3])).item() - -2) < 1e-7);
  const img = torch.zeros([2, 1, 4, 4]);
  assert.ok(Math.abs(psnr(img, img.add(0.2)) - 20) < 1e-4, 'a 0.1 error in [0, 1] is 20 dB');
});

test('PatchGAN discriminator: taming/LlamaGen Sequential names, patch logits, BatchNorm running stats', () => {
  const d = new NLayerDiscriminator({ inChannels: 1, ndf: 8, nLayers: 3 }, { generator: new torch.Generator(0) });
  const bn = ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'];
  const expected = [
    'main.0.weight',
    'main.0.bias',
    'main.2.weight',
    ...bn.map((n) => `main.3.${n}`),
    'main.5.weight',
    ...bn.map((n) => `main.6.${n}`),
    'main.8.weight',
    ...bn.map((n) => `main.9.${n}`),
    'main.11.weight',
    'main.11.bias',
  ];
  assert.deepEqual([...d.stateDict().keys()].sort(), expected.sort());
  assert.deepEqual(d.stateDict().get('main.8.weight')?.shape, [64, 32, 4, 4]);
  const x = torch.rand([2, 1, 32, 32], { generator: new torch.Generator(1) });
  const before = d.stateDict().get('main.3.running_mean')?.clone();
  const logits = d.train().forward(x);
  assert.deepEqual(logits.shape, [2, 1, 2, 2]); // 32 → 16 → 8 → 4 → 3 → 2
  const after = d.stateDict().get('main.3.running_mean') as torch.Tensor;
  assert.ok(
    after
      .sub(before as torch.Tensor)
      .abs()
      .max()
      .item() > 0,
    'training updates the running mean',
  );
  assert.equal(d.stateDict().get('main.3.num_batches_tracked')?.item(), 1);
});
