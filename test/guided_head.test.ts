// The guidance-distilled diffusion head (DiffLoss.guided_net, `d2c train guided-head`): it starts as
// the head it copies, learns ε_u + w(ε_c − ε_u) from the conditional row alone, samples with one
// row per token, and trains, packs and samples from the CLI.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { DiffLoss, SimpleMLPAdaLN } from '../src/generators/diffloss.ts';
import { MAR, marConfig } from '../src/generators/mar.ts';
import { sampleTokens } from '../src/generators/mar_sample.ts';
import { cfgAt, maskSchedule } from '../src/generators/schedules.ts';
import { AdamW } from '../src/optim/adamw.ts';
import { D2C } from '../src/pipeline/d2c.ts';
import { loadPart } from '../src/pipeline/parts.ts';
import type { Tensor } from '../src/torch/index.ts';
import * as torch from '../src/torch/index.ts';
import { d2c, packArgs, TINY, tinyCache, writeTinyPart } from './helpers/tiny_pipeline.ts';

torch.setNumThreads(1);
const root = mkdtempSync(join(tmpdir(), 'd2c-guided-head-'));
after(() => rmSync(root, { recursive: true, force: true }));

const HEAD = { inChannels: 4, modelChannels: 16, outChannels: 8, zChannels: 6, numResBlocks: 2 };

/** Adds seeded noise to every parameter, so that AdaLN-zero layers do something. */
function perturb(m: { parameters(): Tensor[] }, seed: number, scale = 0.2): void {
  const g = new torch.Generator(seed);
  torch.noGrad(() => {
    for (const p of m.parameters()) p.add_(torch.randn(p.shape, { generator: g }).mul(scale));
  });
}

const maxAbsDiff = (a: Tensor, b: Tensor) => torch.tidy(() => a.sub(b).abs().max().item());

test('a distilled head starts as the head it copies, whatever the guidance scale', () => {
  torch.tidy(() => {
    const head = new SimpleMLPAdaLN(HEAD);
    perturb(head, 1);
    const student = new SimpleMLPAdaLN({ ...HEAD, guidanceEmbed: true });
    student.loadStateDict(head.stateDict(), false);
    assert.ok(student.guidance_embed, 'guidanceEmbed builds the guidance embedder');
    const g = new torch.Generator(2);
    const x = torch.randn([5, 4], { generator: g });
    const t = torch.tensor(BigInt64Array.from([0n, 10n, 500n, 900n, 999n]));
    const c = torch.randn([5, 6], { generator: g });
    const ref = head.forward(x, t, c);
    for (const w of [1, 3, 5]) assert.equal(maxAbsDiff(student.forward(x, t, c, torch.full([5], w)), ref), 0);
    assert.throws(() => student.forward(x, t, c), /needs the guidance scale/);
    assert.throws(() => head.forward(x, t, c, torch.full([5], 2)), /without a guidance input/);
  });
});

test('the distillation target is ε_u + w(ε_c − ε_u) with the conditional σ fraction, and only the student learns', () => {
  torch.tidy(() => {
    const d = new DiffLoss({ targetChannels: 4, zChannels: 6, depth: 2, width: 16, numSamplingSteps: '5', guidedHead: true });
    perturb(d.net, 3);
    d.guided_net?.loadStateDict(d.net.stateDict(), false);
    const g = new torch.Generator(4);
    const target = torch.randn([64, 4], { generator: g });
    const zc = torch.randn([64, 6], { generator: g });
    // the same condition twice: ε_c = ε_u, so the copied head's output already is the target
    assert.ok(d.distillLoss(target, zc, zc, 5, new torch.Generator(0)).item() < 1e-12);
    const zu = torch.randn([64, 6], { generator: g });
    const loss = d.distillLoss(target, zc, zu, 5, new torch.Generator(0));
    assert.ok(loss.item() > 1e-4, 'different conditions: the guided target differs from the conditional output');
    loss.backward();
    assert.ok(
      d.net.parameters().every((p) => p.grad === null),
      'the teacher gets no gradient',
    );
    assert.ok(d.guided_net?.guidance_embed?.mlp.l2.weight.grad, 'the student does');
  });
});

test('training the student brings it to the guided teacher, and its sampler runs one row per token', () => {
  const d = new DiffLoss({ targetChannels: 4, zChannels: 6, depth: 2, width: 32, numSamplingSteps: '5', guidedHead: true });
  perturb(d.net, 5, 0.05);
  d.guided_net?.loadStateDict(d.net.stateDict(), false);
  const student = d.guided_net as SimpleMLPAdaLN;
  const opt = new AdamW([{ params: student.parameters() }], { lr: 3e-3 });
  const g = new torch.Generator(6);
  const target = torch.keep(torch.randn([256, 4], { generator: g }));
  const zc = torch.keep(torch.randn([256, 6], { generator: g }));
  // in MAR z_u is a function of the same context: here a fixed map of z_c, so the target is learnable
  const zu = torch.keep(zc.mul(-0.5).add(0.2));
  const gen = new torch.Generator(7);
  const lossAt = () => torch.tidy(() => d.distillLoss(target, zc, zu, 5, new torch.Generator(99)).item());
  const before = lossAt();
  for (let i = 0; i < 300; i++) {
    torch.tidy(() => {
      opt.zeroGrad();
      d.distillLoss(target, zc, zu, 5, gen).backward();
      opt.step();
    });
  }
  const afterTraining = lossAt();
  assert.ok(afterTraining < before / 4, `loss ${before} → ${afterTraining}: the student should approach the teacher`);
  // the sampler's step equals forward() with the scale as input, ε and v, from N rows (not 2N)
  torch.noGrad(() =>
    torch.tidy(() => {
      const x = torch.randn([7, 4], { generator: g });
      const z = torch.randn([7, 6], { generator: g });
      const step = student.sampler(z, [40, 400], 2.5)(x, 1);
      const ref = student.forward(x, torch.full([7], 400, { dtype: 'int64' }), z, torch.full([7], 2.5));
      assert.deepEqual(step.eps.shape, [7, 4]);
      assert.ok(maxAbsDiff(step.eps, ref.narrow(1, 0, 4)) < 1e-5);
      assert.ok(maxAbsDiff(step.v, ref.narrow(1, 4, 4)) < 1e-5);
    }),
  );
  torch.dispose([target, zc, zu]);
});

test("sampleTokens with headGuidance 'distilled' runs the transformer on B rows and gives the head each step's scale", () => {
  torch.manualSeed(0);
  const mar = new MAR(marConfig('mar_fmnist', { ...TINY.mar.overrides, fusion: 'add', guidedHead: true }));
  const batches: number[] = [];
  const calls: { rows: number; cfg?: number; guidance?: string }[] = [];
  const encode = mar.forwardMaeEncoder.bind(mar);
  mar.forwardMaeEncoder = (x, mask, cls, F, gen) => {
    batches.push(x.shape[0]);
    return encode(x, mask, cls, F, gen);
  };
  const sample = mar.diffloss.sample.bind(mar.diffloss);
  mar.diffloss.sample = (z, o = {}) => {
    calls.push({ rows: z.shape[0], cfg: o.cfg, guidance: o.guidance });
    return sample(z, o);
  };
  const B = 3;
  const codes = torch.zeros([B, 64], { dtype: 'int64' });
  const labels = torch.tensor(BigInt64Array.from([0n, 1n, 2n]));
  const o = { labels, codes, numIter: 4, cfg: 3, generator: new torch.Generator(0), diffusionSteps: 3 };
  const out = sampleTokens(mar, B, { ...o, headGuidance: 'distilled' });
  assert.deepEqual(out.shape, [B, 4, 8, 8]);
  assert.deepEqual(batches, [B, B, B, B]);
  const L = 64;
  const plan = maskSchedule(L, 4); // [59, 45, 24, 1]; the last step predicts every token left
  let masked = L;
  calls.forEach((c, i) => {
    const after = i === 3 ? 0 : plan[i];
    assert.equal(c.guidance, 'distilled');
    assert.equal(c.rows, B * (masked - after), `step ${i}: one row per token`);
    assert.equal(c.cfg, cfgAt(3, 'linear', L, plan[i]));
    masked = after;
  });
  batches.length = 0;
  sampleTokens(mar, B, { ...o, generator: new torch.Generator(0) });
  assert.deepEqual(batches, [2 * B, 2 * B, 2 * B, 2 * B], "'cfg' keeps the unconditional rows");
  const plain = new MAR(marConfig('mar_fmnist', { ...TINY.mar.overrides, fusion: 'add' }));
  assert.throws(() => sampleTokens(plain, B, { ...o, headGuidance: 'distilled' }), /no distilled head .*d2c train guided-head/);
  assert.throws(() => sampleTokens(mar, B, { ...o, headGuidance: 'distilled', cfgDrop: 'class' }), /cfgDrop 'both'/);
  assert.ok(!plain.stateDict().has('diffloss.guided_net.time_embed.mlp.0.weight'), 'older configs keep their keys');
  assert.throws(() => marConfig('mar_fmnist', { guidedHeadMaxCfg: 1 }), /guidedHeadMaxCfg must be a number > 1/);
});

test('d2c train guided-head: distils a stage 2 from its folder, resumes, packs with the distilled default, and samples', async () => {
  const { vq, kl, cache } = await tinyCache(root);
  const s1 = writeTinyPart(join(root, 's1'), 'gpt', 3);
  const s2 = writeTinyPart(join(root, 's2'), 'mar', 4, { fusion: 'add' });
  const out = join(root, 'gh');
  const common = ['--cache', cache, '--out', out, '--batch-size', '4', '--threads', '1', '--log-every', '1'];
  let r = d2c('train', 'guided-head', ...common, '--from', s2, '--steps', '2');
  assert.equal(r.code, 0, r.stderr);
  r = d2c('train', 'guided-head', ...common, '--steps', '3', '--resume');
  assert.equal(r.code, 0, r.stderr);
  const lines = readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n');
  assert.equal(JSON.parse(lines[lines.length - 1]).step, 3);
  // the teacher is unchanged in the checkpoint; the EMA holds the student alone
  const { model } = loadPart<MAR>(out);
  const teacher = loadPart<MAR>(s2).model;
  assert.equal(maxAbsDiff(model.diffloss.net.final_layer.linear.weight, teacher.diffloss.net.final_layer.linear.weight), 0);
  const ema = torch.loadSafetensors(join(out, 'ema.safetensors'));
  assert.ok([...ema.keys()].every((k) => k.startsWith('diffloss.guided_net.')));
  torch.dispose([...ema.values()]);

  const folder = join(root, 'model');
  r = d2c(...packArgs({ vq, kl, stage1: s1, stage2: out, cache }, folder), '--steps', '2');
  assert.equal(r.code, 0, r.stderr);
  const info = JSON.parse(readFileSync(join(folder, 'd2c.json'), 'utf8'));
  assert.equal(info.stage2.headGuidance, 'distilled');
  assert.match(readFileSync(join(folder, 'README.md'), 'utf8'), /# stage2\nd2c train guided-head .*--from /);
  const m = D2C.fromPretrained(folder);
  const a = m.generate({ classes: [0, 1], seed: 0, preview: false });
  const b = m.generate({ classes: [0, 1], seed: 0, preview: false, stage2: { headGuidance: 'cfg' } });
  assert.deepEqual(a.images.shape, [2, 1, 32, 32]);
  assert.ok(maxAbsDiff(a.images, b.images) > 0, 'the two guidances are different samplers');

  // clear errors: no teacher, a teacher that is not a stage 2, --set, distilled without a distilled head
  r = d2c('train', 'guided-head', '--cache', cache, '--out', join(root, 'gh2'), '--threads', '1');
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /--from <stage-2 dir> is required/);
  r = d2c('train', 'guided-head', '--cache', cache, '--out', join(root, 'gh2'), '--from', s1, '--threads', '1');
  assert.match(r.stderr, /holds a gpt model, not a stage-2 MAR/);
  r = d2c('train', 'guided-head', '--cache', cache, '--out', join(root, 'gh2'), '--from', s2, '--set', 'difflossW=8');
  assert.match(r.stderr, /--set and --config do not apply/);
  assert.ok(!existsSync(join(root, 'gh2', 'model.safetensors')));
  r = d2c(...packArgs({ vq, kl, stage1: s1, stage2: s2, cache }, join(root, 'm2')), '--head-guidance', 'distilled');
  assert.match(r.stderr, /has no distilled head/);
});
