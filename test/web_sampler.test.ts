// The browser sampler (src/web/) run in Node over onnxruntime-node on the shipped model's export:
// its code selection equals gpt_sample.ts's, its diffusion step equals GaussianDiffusion's on the
// same noise, greedy stage-1 codes equal the libtorch sampler's, and a seed gives the same images.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { exportOnnx } from '../src/export/export_onnx.ts';
import type { WebManifest } from '../src/export/manifest.ts';
import { createDiffusion } from '../src/generators/diffusion.ts';
import type { GPT } from '../src/generators/gpt.ts';
import { filterLogits, generate as gptGenerate } from '../src/generators/gpt_sample.ts';
import { ancestralStep, diffusionCoefficients, respacedSchedule, stepCoefficients } from '../src/generators/schedules.ts';
import { D2C } from '../src/pipeline/d2c.ts';
import * as torch from '../src/torch/index.ts';
import { draw, filteredProbs, guide } from '../src/web/logits.ts';
import { Rng } from '../src/web/rng.ts';
import { WebSampler } from '../src/web/sampler.ts';

torch.setNumThreads(1);
ort.env.logLevel = 'error';
const root = mkdtempSync(join(tmpdir(), 'd2c-web-'));
const SHIPPED = new URL('../models/d2c-fmnist', import.meta.url).pathname;
let model: D2C;
let sampler: WebSampler;

before(async () => {
  model = D2C.fromPretrained(SHIPPED);
  const manifest = exportOnnx(model, root) as WebManifest;
  sampler = await WebSampler.create(ort, manifest, async (f) => readFileSync(join(root, f)));
});
after(async () => {
  await sampler?.release();
  rmSync(root, { recursive: true, force: true });
});

test('filteredProbs keeps the codes and probabilities of gpt_sample.ts filterLogits', () => {
  const g = new torch.Generator(3);
  for (const o of [
    { temperature: 1, topK: 0, topP: 1 },
    { temperature: 0.7, topK: 20, topP: 1 },
    { temperature: 1.3, topK: 0, topP: 0.8 },
    { temperature: 1, topK: 50, topP: 0.5 },
  ]) {
    const logits = torch.randn([4, 200], { generator: g }).mul(2);
    const ref = filterLogits(o.temperature === 1 ? logits : logits.div(o.temperature), o.topK, o.topP).softmax(-1);
    for (let r = 0; r < 4; r++) {
      const p = filteredProbs(logits.select(0, r).toFloat32Array(), o);
      const q = ref.select(0, r).toFloat32Array();
      for (let i = 0; i < 200; i++)
        assert.ok(Math.abs(p[i] - q[i]) < 1e-6, `${JSON.stringify(o)} row ${r} code ${i}: ${p[i]} vs ${q[i]}`);
    }
  }
});

test('draw follows the probabilities; guide is torch.lerp(uncond, cond, s)', () => {
  const rng = new Rng(1);
  const p = Float64Array.from([0.1, 0, 0.6, 0.3]);
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < 20000; i++) counts[draw(p, rng)]++;
  assert.equal(counts[1], 0);
  for (const i of [0, 2, 3]) assert.ok(Math.abs(counts[i] / 20000 - p[i]) < 0.015, `code ${i}: ${counts[i]}`);
  const g = guide(Float32Array.from([1, 2]), Float32Array.from([0, 4]), 3);
  assert.deepEqual([...g], [3, -2]);
});

test('ancestralStep equals GaussianDiffusion.pSampleStep on the same noise (with and without the x̂₀ bound)', () => {
  const d = createDiffusion('20');
  const { betas } = respacedSchedule('20');
  const coef = diffusionCoefficients(betas);
  for (const [i, clip, temperature] of [
    [19, 0, 1],
    [7, 4, 0.9],
    [0, 0, 1],
  ] as const) {
    const g = new torch.Generator(11);
    const [x, eps, v] = [0, 1, 2].map(() => torch.randn([5, 4], { generator: g }).mul(1.5));
    const ref = d.pSampleStep(eps, v, x, i, { generator: new torch.Generator(7), clip, temperature }).toFloat32Array();
    const noise = torch.randn([5, 4], { generator: new torch.Generator(7) }).toFloat32Array();
    const k = stepCoefficients(coef, i);
    const [xs, es, vs] = [x, eps, v].map((t) => t.toFloat32Array());
    for (let j = 0; j < 20; j++) {
      const got = ancestralStep(k, i, xs[j], es[j], vs[j], noise[j], clip, temperature);
      assert.ok(Math.abs(got - ref[j]) <= 1e-5 * Math.max(1, Math.abs(ref[j])), `step ${i} element ${j}: ${got} vs ${ref[j]}`);
    }
  }
});

test('greedy stage-1 codes equal the libtorch sampler (KV-cache graphs, CFG)', async () => {
  const classes = [7, 1, 8];
  const js = await sampler.stage1(classes, { cfg: 2, temperature: 1, topK: 1, topP: 1 }, new Rng(0));
  const ref = torch.tidy(() =>
    gptGenerate(model.stage1 as GPT, torch.tensor(classes, { dtype: 'int64' }), { cfgScale: 2, greedy: true }).toArray(),
  );
  assert.deepEqual([...js], ref);
});

test('generate: images and previews in [−1, 1], the same for a seed, different for another', async () => {
  const progress: string[] = [];
  const o = { classes: [0, 9], seed: 5, stage2: { steps: 4 } };
  const a = await sampler.generate(o, (p) => {
    progress.push(`${p.stage}:${p.step}`);
  });
  assert.deepEqual(a.shape, [2, 1, 32, 32]);
  assert.equal(a.previews?.length, a.images.length);
  assert.ok(a.images.every((v) => v >= -1 && v <= 1));
  const spread = Math.max(...a.images) - Math.min(...a.images);
  assert.ok(spread > 0.5, `images look blank (spread ${spread})`);
  const stage1 = Array.from({ length: 64 }, (_, i) => `stage1:${i + 1}`);
  assert.deepEqual(progress, [...stage1, 'stage2:1', 'stage2:2', 'stage2:3', 'stage2:4', 'decode:1']);
  const b = await sampler.generate(o);
  assert.deepEqual(a.images, b.images);
  const c = await sampler.generate({ ...o, seed: 6 });
  assert.notDeepEqual(a.images, c.images);
  await assert.rejects(sampler.generate({ classes: [10], seed: 0 }), /unknown class 10/);
});

test('the speed options: annealed diffusion steps per AR step and a deterministic solver', async () => {
  // count the diffusion head's runs through a sampler whose sessions report each run
  let denoises = 0;
  const counting = {
    Tensor: ort.Tensor,
    InferenceSession: {
      async create(bytes: Uint8Array, opts?: ort.InferenceSession.SessionOptions) {
        const s = await ort.InferenceSession.create(bytes, opts);
        const run = s.run.bind(s);
        const isDenoiser = s.inputNames.includes('t');
        Object.assign(s, {
          run: (feeds: ort.InferenceSession.FeedsType) => {
            if (isDenoiser) denoises++;
            return run(feeds);
          },
        });
        return s;
      },
    },
  };
  const manifest = JSON.parse(readFileSync(join(root, 'manifest.json'), 'utf8')) as WebManifest;
  const counted = await WebSampler.create(counting as never, manifest, async (f) => readFileSync(join(root, f)));
  try {
    const o = {
      classes: [3, 8],
      seed: 2,
      stage2: { steps: 4, diffusionSteps: 6, finalDiffusionSteps: 2, diffusionSampler: 'dpm-solver++' as const },
    };
    const a = await counted.generate(o);
    assert.equal(denoises, 6 + 5 + 3 + 2, 'annealed 6 → 2 over 4 AR steps');
    assert.ok(a.images.every((v) => v >= -1 && v <= 1));
    assert.ok(Math.max(...a.images) - Math.min(...a.images) > 0.5, 'images look blank');
    const b = await counted.generate(o);
    assert.deepEqual(a.images, b.images);
    const c = await counted.generate({ ...o, stage2: { ...o.stage2, diffusionSampler: 'ddim' } });
    assert.notDeepEqual(a.images, c.images);
  } finally {
    await counted.release();
  }
});
