// The arms of the stage-2 study: the prefix fusion (shapes, gradients, names), code mixing
// (mixCodes, stage 1's teacher-forced draws), the respaced diffusion sampler (--diffusion-steps),
// and the pipeline's stage-1-only, oracle-codes and MAR-only paths.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fashionMnistAvailable } from '../src/data/fashion_mnist.ts';
import { spaceTimesteps } from '../src/generators/diffusion.ts';
import { mixCodes } from '../src/generators/fusion.ts';
import { GPT, gptConfig } from '../src/generators/gpt.ts';
import { teacherForcedSample } from '../src/generators/gpt_sample.ts';
import { MAR, type MARConfig, marConfig } from '../src/generators/mar.ts';
import { sampleTokens } from '../src/generators/mar_sample.ts';
import { D2C } from '../src/pipeline/d2c.ts';
import { psnrFromSquaredError } from '../src/pipeline/oracle.ts';
import * as torch from '../src/torch/index.ts';
import { d2c, tinyCache, tinyModel, writeTinyPart } from './helpers/tiny_pipeline.ts';

const tiny = (o: Partial<MARConfig> = {}) =>
  new MAR(marConfig('mar_tiny', { attnDropout: 0, projDropout: 0, ...o }), { generator: new torch.Generator(0) });

test('prefix fusion: its own names, output shapes, and gradients reach every prefix weight', () => {
  const m = tiny({ fusion: 'prefix', labelDropProb: 0, condDropProb: 0 });
  const names = new Set(m.stateDict().keys());
  for (const k of ['prefix_proj.weight', 'prefix_proj.bias', 'prefix_pos_embed', 'decoder_prefix_pos_embed'])
    assert.ok(names.has(k), `missing ${k}`);
  assert.ok(!names.has('qformer.queries') && !names.has('fusion_enc_proj.weight'));
  const g = new torch.Generator(1);
  const [B, L] = [3, m.seqLen];
  // The diffusion head starts AdaLN-zero (its output ignores z): perturb it so gradients reach MAR.
  torch.noGrad(() => {
    for (const p of m.diffloss.parameters()) torch.tidy(() => p.add_(torch.randn(p.shape, { generator: g }).mul(0.05)));
  });
  torch.tidy(() => {
    const latents = torch.randn([B, m.cfg.vaeEmbedDim, m.seqH, m.seqH], { generator: g });
    const labels = torch.tensor([0, 1, 2], { dtype: 'int64' });
    const codes = torch.randint(0, m.cfg.codebookSize, [B, L], { generator: g });
    const x = m.patchify(latents);
    const mask = m.randomMasking(m.sampleOrders(B, g), 0.75);
    const F = m.encodeCondition(codes, g) as torch.Tensor;
    const enc = m.forwardMaeEncoder(x, mask, m.class_emb.forward(labels), F, g);
    const kept = L - Math.ceil(L * 0.75);
    assert.deepEqual(enc.shape, [B, L + m.cfg.bufferSize + kept, m.cfg.encoderEmbedDim]);
    const z = m.forwardMaeDecoder(enc, mask, F);
    assert.deepEqual(z.shape, [B, L, m.cfg.decoderEmbedDim]);
    const loss = m.forward(latents, labels, codes, g);
    loss.backward();
    for (const p of [m.prefix_proj?.weight, m.prefix_pos_embed, m.decoder_prefix_pos_embed, m.disc_encoder?.code_emb.weight]) {
      const grad = p?.grad;
      assert.ok(grad && grad.abs().sum().item() > 0, 'a prefix weight got no gradient');
    }
  });
  // The output depends on the codes: other codes, other conditions.
  m.eval();
  torch.noGrad(() =>
    torch.tidy(() => {
      const labels = torch.tensor([0, 0], { dtype: 'int64' });
      const a = sampleTokens(m, 2, {
        labels,
        codes: torch.zeros([2, L], { dtype: 'int64' }),
        numIter: 2,
        generator: new torch.Generator(5),
      });
      const b = sampleTokens(m, 2, {
        labels,
        codes: torch.ones([2, L], { dtype: 'int64' }),
        numIter: 2,
        generator: new torch.Generator(5),
      });
      assert.ok(a.sub(b).abs().max().item() > 1e-4);
    }),
  );
});

test('mixCodes: rate 0 keeps the codes, rate 1 takes the predictions, rate r replaces about r, seeded', () => {
  torch.tidy(() => {
    const codes = torch.zeros([64, 64], { dtype: 'int64' });
    const pred = torch.ones([64, 64], { dtype: 'int64' });
    assert.equal(mixCodes(codes, pred, 0).sum().item(), 0);
    assert.equal(mixCodes(codes, pred, 1, new torch.Generator(0)).sum().item(), 64 * 64);
    const a = mixCodes(codes, pred, 0.3, new torch.Generator(7));
    const frac = a.sum().item() / (64 * 64);
    assert.ok(Math.abs(frac - 0.3) < 0.03, `replaced ${frac}`);
    assert.deepEqual(a.toArray(), mixCodes(codes, pred, 0.3, new torch.Generator(7)).toArray());
    assert.throws(() => mixCodes(codes, pred, 1.5), /rate must be in \[0, 1\]/);
    assert.throws(() => mixCodes(codes, pred.narrow(0, 0, 2), 0.5), /differ in shape/);
  });
});

test('teacherForcedSample: one code per position from the next-code distribution given the real prefix', () => {
  torch.manualSeed(0);
  const gpt = new GPT(gptConfig('gpt_test', { vocabSize: 16, blockSize: 16, numClasses: 4 })).eval();
  torch.tidy(() => {
    const codes = torch.randint(0, 16, [3, 16], { generator: new torch.Generator(1) });
    const labels = torch.tensor([0, 1, 3], { dtype: 'int64' });
    const greedy = teacherForcedSample(gpt, codes, labels, { greedy: true });
    assert.deepEqual(greedy.shape, [3, 16]);
    const logits = gpt.forward(codes.narrow(1, 0, 15), labels); // row i predicts code i
    assert.deepEqual(greedy.toArray(), logits.argmax(-1).toArray());
    const a = teacherForcedSample(gpt, codes, labels, { generator: new torch.Generator(2) });
    const b = teacherForcedSample(gpt, codes, labels, { generator: new torch.Generator(2) });
    assert.deepEqual(a.toArray(), b.toArray());
  });
});

test('--diffusion-steps: the schedule respaced to N evenly strided steps, deterministic for a seed', () => {
  const m = tiny({ fusion: 'none' });
  const d = m.diffloss.samplingDiffusion(25);
  assert.equal(d.timestepMap.length, 25);
  assert.deepEqual(d.timestepMap, spaceTimesteps(1000, '25'));
  assert.equal(m.diffloss.samplingDiffusion(25), d, 'respaced samplers are cached');
  assert.throws(() => m.diffloss.samplingDiffusion(0), /integer in 1\.\.1000/);
  m.eval();
  torch.noGrad(() =>
    torch.tidy(() => {
      const run = (steps: number, seed: number) =>
        sampleTokens(m, 2, { numIter: 2, diffusionSteps: steps, generator: new torch.Generator(seed) });
      const a = run(5, 3);
      assert.deepEqual(a.toArray(), run(5, 3).toArray());
      assert.ok(a.sub(run(20, 3)).abs().max().item() > 1e-4, 'the step count changes the draw');
      assert.ok(a.sub(run(5, 4)).abs().max().item() > 1e-4, 'the seed changes the draw');
    }),
  );
});

const root = mkdtempSync(join(tmpdir(), 'd2c-arms-'));
let model: string;
before(async () => {
  model = await tinyModel(root);
});
after(() => rmSync(root, { recursive: true, force: true }));

test('generate: stage1Only returns the VQ-decoded codes; given codes replace stage 1 (oracle)', () => {
  const m = D2C.fromPretrained(model);
  torch.tidy(() => {
    const s1 = m.generate({ classes: [0, 1], seed: 3, stage1Only: true });
    assert.deepEqual(s1.images.toArray(), s1.preview?.toArray());
    const full = m.generate({ classes: [0, 1], seed: 3, stage2: { steps: 2 } });
    assert.deepEqual(full.codes?.toArray(), s1.codes?.toArray(), 'the same seed gives the same stage-1 codes');
    const codes = torch.zeros([2, 64], { dtype: 'int64' });
    const o = m.generate({ classes: [0, 1], seed: 3, codes, stage2: { steps: 2 } });
    assert.deepEqual(o.codes?.toArray(), codes.toArray());
    assert.ok(o.images.sub(full.images).abs().max().item() > 1e-4, 'the oracle codes condition stage 2');
    assert.throws(
      () => m.generate({ classes: [0, 1], codes: torch.zeros([3, 64], { dtype: 'int64' }) }),
      /codes must be \[2, 64\]/,
    );
  });
});

test('a MAR-only folder (pack without --vq/--stage1) samples without stage 1; a fused stage 2 needs stage 1', async () => {
  const { kl, cache } = await tinyCache(join(root, 'maronly'));
  const fused = writeTinyPart(join(root, 'maronly', 'fused'), 'mar', 5);
  const refused = d2c('pack', '--kl', kl, '--stage2', fused, '--cache', cache, '--out', join(root, 'bad'));
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /MAR-only folder needs a stage 2 with fusion none/);
  const s2 = writeTinyPart(join(root, 'maronly', 's2'), 'mar', 5, { fusion: 'none' });
  const mar = join(root, 'mar-only');
  const packed = d2c(
    'pack',
    '--kl',
    kl,
    '--stage2',
    s2,
    '--cache',
    cache,
    '--out',
    mar,
    '--steps',
    '2',
    '--diffusion-steps',
    '4',
  );
  assert.equal(packed.code, 0, packed.stderr);
  const m = D2C.fromPretrained(mar);
  assert.ok(m.marOnly);
  assert.equal(m.diffusionSteps, 4);
  torch.tidy(() => {
    const r = m.generate({ classes: [0, 2], seed: 1 });
    assert.deepEqual(r.images.shape, [2, 1, 32, 32]);
    assert.equal(r.preview, null);
    assert.throws(() => m.generate({ classes: [0], stage1Only: true }), /MAR-only/);
  });
  const s = d2c('sample', '--model', mar, '--n', '2', '--out', join(root, 'mar.png'), '--preview');
  assert.equal(s.code, 1);
  assert.match(s.stderr, /MAR-only model, it has no stage-1 preview/);
});

test('d2c eval --stage1-only and --oracle: the arms score with the same command; --oracle adds five PSNRs; both: the VQ reconstructions', {
  skip: fashionMnistAvailable() ? false : 'Fashion-MNIST is not installed',
}, () => {
  // The same small evaluation, then each arm's own flags.
  const evalRun = (out: string, ...arm: string[]) =>
    d2c('eval', '--model', model, '--n', '20', '--batch-size', '10', '--threads', '1', '--out', join(root, out), ...arm);
  const s1 = evalRun('e1', '--stage1-only');
  assert.equal(s1.code, 0, s1.stderr);
  const r1 = JSON.parse(s1.stdout.trim().split('\n').pop() as string);
  assert.ok(Number.isFinite(r1.fid_fmnist) && r1.psnr === undefined);
  const report = JSON.parse(readFileSync(join(root, 'e1', 'report.json'), 'utf8'));
  assert.equal(report.meta.arm, 'stage1-only');
  const or = evalRun('e2', '--oracle', '--steps', '2', '--diffusion-steps', '3');
  assert.equal(or.code, 0, or.stderr);
  const r2 = JSON.parse(or.stdout.trim().split('\n').pop() as string);
  for (const k of ['psnr', 'psnr_vq_recon', 'psnr_kl_recon', 'vq_recon_psnr', 'kl_recon_psnr'])
    assert.ok(Number.isFinite(r2[k]) && r2[k] > 0, `${k}: ${r2[k]}`);
  const saved = JSON.parse(readFileSync(join(root, 'e2', 'report.json'), 'utf8'));
  assert.equal(saved.metrics.psnr, r2.psnr, 'the PSNRs are in report.json too');
  assert.equal(saved.meta.sampling.stage2.diffusionSteps, 3);
  // Both: the real codes VQ-decoded, so the output is the VQ reconstruction itself.
  const both = evalRun('e3', '--oracle', '--stage1-only');
  assert.equal(both.code, 0, both.stderr);
  const r3 = JSON.parse(both.stdout.trim().split('\n').pop() as string);
  assert.ok(Math.abs(r3.psnr - r3.vq_recon_psnr) < 1e-6, `${r3.psnr} vs ${r3.vq_recon_psnr}`);
  assert.equal(r3.psnr_vq_recon, psnrFromSquaredError(0, 1));
  assert.equal(r3.vq_recon_psnr, r2.vq_recon_psnr, 'the same test images as the oracle arm');
  assert.equal(JSON.parse(readFileSync(join(root, 'e3', 'report.json'), 'utf8')).meta.arm, 'oracle-stage1-only');
});

test('train stage2 --mix-stage1: trains on mixed codes, saves the rate and the GPT in the checkpoint; errors name the fix', async () => {
  const dir = join(root, 'mix');
  const { cache } = await tinyCache(dir);
  const gpt = writeTinyPart(join(dir, 's1'), 'gpt', 3);
  const args = (out: string, ...extra: string[]) => [
    'train',
    'stage2',
    '--cache',
    cache,
    '--out',
    out,
    '--preset',
    'mar_fmnist',
    '--set',
    'encoderEmbedDim=32',
    '--set',
    'decoderEmbedDim=32',
    '--set',
    'discEmbedDim=32',
    '--set',
    'encoderNumHeads=2',
    '--set',
    'decoderNumHeads=2',
    '--set',
    'discNumHeads=2',
    '--set',
    'encoderDepth=1',
    '--set',
    'decoderDepth=1',
    '--set',
    'discDepth=1',
    '--set',
    'difflossW=32',
    '--set',
    'difflossD=1',
    '--set',
    'bufferSize=4',
    '--set',
    'codebookSize=64',
    '--steps',
    '3',
    '--batch-size',
    '4',
    '--threads',
    '1',
    ...extra,
  ];
  const ok = d2c(...args(join(dir, 'run'), '--fusion', 'add', '--mix-stage1', gpt, '--mix-rate', '0.7'));
  assert.equal(ok.code, 0, ok.stderr);
  const saved = JSON.parse(readFileSync(join(dir, 'run', 'config.json'), 'utf8'));
  assert.equal(saved.config.codeMixRate, 0.7);
  assert.equal(saved.recipe.mixStage1, gpt);
  // Fine-tuning: a run trained without mixing, resumed with it, trains and records the new rate.
  const plain = d2c(...args(join(dir, 'plain'), '--fusion', 'add'));
  assert.equal(plain.code, 0, plain.stderr);
  // (a repeated --steps: commander keeps the last)
  const tuned = d2c(...args(join(dir, 'plain'), '--mix-stage1', gpt, '--mix-rate', '0.2', '--resume', '--steps', '5'));
  assert.equal(tuned.code, 0, tuned.stderr);
  const resumed = JSON.parse(readFileSync(join(dir, 'plain', 'config.json'), 'utf8'));
  assert.equal(resumed.config.codeMixRate, 0.2);
  assert.equal(resumed.recipe.mixStage1, gpt);
  assert.equal(JSON.parse(readFileSync(join(dir, 'plain', 'trainer.json'), 'utf8')).step, 5);
  const none = d2c(...args(join(dir, 'bad'), '--fusion', 'none', '--mix-stage1', gpt));
  assert.equal(none.code, 1);
  assert.match(none.stderr, /needs a fusion/);
  const noGpt = d2c(...args(join(dir, 'bad2'), '--fusion', 'add', '--set', 'codeMixRate=0.5'));
  assert.equal(noGpt.code, 1);
  assert.match(noGpt.stderr, /--mix-stage1 DIR/);
});
