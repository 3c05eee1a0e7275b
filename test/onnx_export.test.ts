// ONNX export (src/export/): every graph of a model folder, run in onnxruntime-node at a size point
// the tracer never saw (another batch, position, number of kept tokens), equals the libtorch
// module's output within 1e-4 relative — for the shipped model and tiny models of every fusion.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { exportOnnx } from '../src/export/export_onnx.ts';
import { graphSpecs } from '../src/export/graphs.ts';
import type { WebManifest } from '../src/export/manifest.ts';
import { FUSIONS } from '../src/generators/fusion.ts';
import { D2C } from '../src/pipeline/d2c.ts';
import type { Tensor } from '../src/torch/index.ts';
import * as torch from '../src/torch/index.ts';
import { WebSampler } from '../src/web/sampler.ts';
import { writeTinyOnnxModel } from './helpers/onnx_models.ts';
import { d2c as cli } from './helpers/tiny_pipeline.ts';

torch.setNumThreads(1);
ort.env.logLevel = 'error';
const root = mkdtempSync(join(tmpdir(), 'd2c-onnx-'));
after(() => rmSync(root, { recursive: true, force: true }));
const SHIPPED = new URL('../models/d2c-fmnist', import.meta.url).pathname;

function ortTensor(t: Tensor): ort.Tensor {
  const c = t.contiguous();
  if (c.dtype === 'int64') return new ort.Tensor('int64', c.toTypedArray() as BigInt64Array, c.shape);
  return new ort.Tensor('float32', c.float().toFloat32Array(), c.shape);
}

/** max |onnx − torch| / max |torch| for each output of each graph at the untraced size point. */
async function parity(model: D2C, dir: string, fp16 = false): Promise<Record<string, number>> {
  const manifest = exportOnnx(model, dir, { fp16 });
  const errors: Record<string, number> = {};
  const specs = graphSpecs(model);
  assert.deepEqual(
    Object.keys(manifest.graphs),
    specs.map((s) => s.name),
  );
  for (const spec of specs) {
    const session = await ort.InferenceSession.create(join(dir, manifest.graphs[spec.name].file));
    const { feeds, ref } = torch.noGrad(() =>
      torch.tidy(() => {
        const x = spec.inputs(3);
        const feeds = Object.fromEntries(Object.entries(x).map(([k, t]) => [k, ortTensor(t)]));
        // run() writes the KV caches in place: give it copies
        const out = spec.run(Object.fromEntries(Object.entries(x).map(([k, t]) => [k, t.clone()])));
        const ref = Object.entries(out).map(([k, t]) => ({ k, shape: t.shape, data: t.float().toFloat32Array() }));
        return { feeds, ref };
      }),
    );
    assert.deepEqual([...session.inputNames].sort(), Object.keys(feeds).sort(), `${spec.name} inputs`);
    const got = await session.run(feeds);
    for (const r of ref) {
      const o = got[r.k];
      assert.ok(o, `${spec.name}: no output ${r.k}`);
      assert.deepEqual([...o.dims], r.shape, `${spec.name}.${r.k} shape`);
      const od = o.data as Float32Array;
      let diff = 0;
      let scale = 0;
      for (let i = 0; i < r.data.length; i++) {
        diff = Math.max(diff, Math.abs(od[i] - r.data[i]));
        scale = Math.max(scale, Math.abs(r.data[i]));
      }
      assert.ok(scale > 0, `${spec.name}.${r.k} is all zeros: the check would prove nothing`);
      errors[`${spec.name}.${r.k}`] = diff / scale;
    }
    await session.release();
  }
  return errors;
}

function assertWithin(errors: Record<string, number>, tol: number): void {
  const bad = Object.entries(errors).filter(([, e]) => !(e <= tol));
  assert.deepEqual(bad, [], `outputs off by more than ${tol} relative`);
}

test('every graph of the shipped model matches libtorch within 1e-4 (onnxruntime-node)', async () => {
  const m = D2C.fromPretrained(SHIPPED);
  const errors = await parity(m, join(root, 'shipped'));
  assert.ok(Object.keys(errors).length >= 7);
  assertWithin(errors, 1e-4);
  const manifest = JSON.parse(readFileSync(join(root, 'shipped', 'manifest.json'), 'utf8')) as WebManifest;
  assert.equal(manifest.model.name, 'd2c-fmnist');
  assert.equal(manifest.stage2.fakeLatent.length, manifest.stage2.encoderEmbedDim);
  assert.equal(manifest.stage1?.cacheLength, 65);
  assert.equal(manifest.parts.stage2.config.fusion, 'add');
  assert.equal(manifest.parts.kl.kind, 'kl');
});

for (const fusion of FUSIONS) {
  test(`tiny model, fusion ${fusion}: every graph matches within 1e-4`, async () => {
    const dir = writeTinyOnnxModel(join(root, `tiny-${fusion}`), fusion, fusion === 'add' ? 8 : 4);
    const m = D2C.fromPretrained(dir);
    const errors = await parity(m, join(root, `onnx-${fusion}`));
    assertWithin(errors, 1e-4);
    assert.equal('mar_condition.features' in errors, fusion !== 'none');
  });
}

// The attention fusions' variants (docs/study/fusions.md): gates, tied positions, local windows, one query per cell.
for (const [fusion, extra] of [
  ['crossattn', { fusionGate: true, fusionPos: 'tied' }],
  ['crossattn', { fusionGate: true, fusionPos: 'matched' }],
  ['crossattn', { fusionGate: true, fusionPos: 'matched', crossWindow: 1 }],
  ['qformer', { fusionGate: true, fusionPos: 'tied', qformerQueries: 64, qformerPlace: 'add' }],
  ['qformer', { qformerQueries: 64, qformerPlace: 'add', crossWindow: 1 }],
  ['crossattn', { crossWindow: 1, crossSelfBias: 2 }],
] as const) {
  test(`tiny model, fusion ${fusion} ${JSON.stringify(extra)}: every graph matches within 1e-4`, async () => {
    const name = `tiny-${fusion}-variant`;
    const dir = writeTinyOnnxModel(join(root, name), fusion, 4, false, extra);
    const errors = await parity(D2C.fromPretrained(dir), join(root, `onnx-${name}`));
    assertWithin(errors, 1e-4);
    assert.ok('mar_condition.features' in errors);
  });
}

// A stage 2 with a distilled head (`d2c train guided-head`): its graph, and the page's sampler using it.
test('a distilled head exports as diffusion_denoise_guided within 1e-4, and the web sampler guides with it', async () => {
  const dir = writeTinyOnnxModel(join(root, 'tiny-guided'), 'add', 4, false, { guidedHead: true });
  const errors = await parity(D2C.fromPretrained(dir), join(root, 'onnx-guided'));
  assertWithin(errors, 1e-4);
  assert.ok('diffusion_denoise_guided.out' in errors);
  const manifest = JSON.parse(readFileSync(join(root, 'onnx-guided', 'manifest.json'), 'utf8')) as WebManifest;
  const sampler = await WebSampler.create(ort, manifest, async (f) => readFileSync(join(root, 'onnx-guided', f)));
  const o = { classes: [1, 2], seed: 0 };
  const distilled = await sampler.generate({ ...o, stage2: { steps: 2, headGuidance: 'distilled' } });
  const cfg = await sampler.generate({ ...o, stage2: { steps: 2, headGuidance: 'cfg' } });
  assert.deepEqual(distilled.shape, [2, 1, 32, 32]);
  assert.ok(
    distilled.images.some((v, i) => v !== cfg.images[i]),
    'the two guidances are different samplers',
  );
  await sampler.release();
  const plain = JSON.parse(readFileSync(join(root, 'onnx-add', 'manifest.json'), 'utf8')) as WebManifest;
  const noHead = await WebSampler.create(ort, plain, async (f) => readFileSync(join(root, 'onnx-add', f)));
  await assert.rejects(noHead.generate({ ...o, stage2: { steps: 2, headGuidance: 'distilled' } }), /no distilled head/);
  await noHead.release();
});

// A MAR-only folder: stage 2 with fusion none, no stage1/ or vq/.
test('a MAR-only model exports without stage-1 graphs and samples without previews', async () => {
  const dir = writeTinyOnnxModel(join(root, 'tiny-mar-only'), 'none', 4, true);
  const m = D2C.fromPretrained(dir);
  const errors = await parity(m, join(root, 'onnx-mar-only'));
  assertWithin(errors, 1e-4);
  const manifest = JSON.parse(readFileSync(join(root, 'onnx-mar-only', 'manifest.json'), 'utf8')) as WebManifest;
  assert.equal(manifest.stage1, null);
  assert.deepEqual(Object.keys(manifest.graphs).sort(), ['diffusion_denoise', 'kl_decode', 'mar_condition', 'mar_forward']);
  const sampler = await WebSampler.create(ort, manifest, async (f) => readFileSync(join(root, 'onnx-mar-only', f)));
  const r = await sampler.generate({ classes: [1, 2], seed: 0, stage2: { steps: 2 } });
  assert.equal(r.previews, null);
  assert.deepEqual(r.shape, [2, 1, 32, 32]);
  await sampler.release();
});

test('--fp16 halves the files and stays within float16 rounding of libtorch', async () => {
  const dir = existsSync(join(root, 'tiny-qformer'))
    ? join(root, 'tiny-qformer')
    : writeTinyOnnxModel(join(root, 'tiny-qformer'), 'qformer');
  const m = D2C.fromPretrained(dir);
  const errors = await parity(m, join(root, 'onnx-fp16'), true);
  assertWithin(errors, 2e-2);
  const size = (d: string) => readFileSync(join(root, d, 'gpt_decode.onnx')).byteLength;
  assert.ok(size('onnx-fp16') < 0.6 * size('onnx-qformer'));
});

test('d2c export: clear errors for a folder that is not a model and an --out that holds other files', () => {
  const r = cli('export', '--model', root, '--out', join(root, 'x'));
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /^d2c: --model: .* is not a d2c model folder/);
  const r2 = cli('export', '--model', SHIPPED, '--out', new URL('../src', import.meta.url).pathname);
  assert.match(r2.stderr, /^d2c: --out .* holds other files/);
  const r3 = cli('export', '--model', SHIPPED, '--out', join(root, 'y'), '--format', 'tflite');
  assert.match(r3.stderr, /--format must be one of onnx, got "tflite"/);
});
