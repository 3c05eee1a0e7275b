// Training, the token cache and sampling on a device: CUDA when libtorch sees one, skipped
// otherwise; `D2C_TEST_DEVICE=cpu` runs the same checks on the CPU, which is how they were checked
// where they were written (no GPU there: they have never run on one). A seed gives the same
// initial weights on any device; stage 1, stage 2 and a tokenizer with its PatchGAN train there and
// save float32 checkpoints to the host; the cache built there matches the CPU's; a model folder
// samples there in fp32 and bf16.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildTokenCache, loadTokenCache } from '../src/pipeline/cache.ts';
import { D2C } from '../src/pipeline/d2c.ts';
import { loadPart } from '../src/pipeline/parts.ts';
import type { AutoencoderKL } from '../src/tokenizers/kl.ts';
import { VQ_TRAIN_DEFAULTS } from '../src/tokenizers/train_step.ts';
import type { VQModel } from '../src/tokenizers/vq.ts';
import * as torch from '../src/torch/index.ts';
import { STAGE1_RECIPE, stage1Task } from '../src/train/stage1_task.ts';
import { STAGE2_RECIPE, stage2Task } from '../src/train/stage2_task.ts';
import { tokenizerTask } from '../src/train/tokenizer_task.ts';
import { runTraining } from '../src/train/trainer.ts';
import { assertClose } from './helpers/close.ts';
import { tinyCache, tinyModel, tinyPartConfig, tinySet } from './helpers/tiny_pipeline.ts';

const device = process.env.D2C_TEST_DEVICE ?? (torch.cudaIsAvailable() ? 'cuda' : null);
const skip = device === null ? 'no CUDA device (D2C_TEST_DEVICE=cpu runs these checks on the CPU)' : false;

/** Every tensor of a saved file is on the host, float32 (or an integer), and finite. */
function assertSavedFinite(file: string): void {
  for (const [k, t] of torch.loadSafetensors(file)) {
    assert.equal(t.device, 'cpu', `${file} ${k}`);
    if (!t.dtype.startsWith('float')) continue;
    assert.equal(t.dtype, 'float32', `${file} ${k}`);
    assert.ok(t.toArray().every(Number.isFinite), `${file} ${k} is not finite`);
  }
}

describe(`on ${device ?? 'a GPU'}`, { skip }, () => {
  const dev = device as string;
  let root = '';
  let tiny: { vq: string; kl: string; cache: string };
  before(async () => {
    torch.setNumThreads(1);
    root = mkdtempSync(join(tmpdir(), 'd2c-device-'));
    tiny = await tinyCache(root);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  test('a seed gives the CPU’s initial weights; stage 1 and stage 2 train there and save to the host', async () => {
    const recipe = { ...STAGE1_RECIPE, steps: 3, batchSize: 4, warmup: 0 };
    const onCpu = stage1Task(tiny.cache, tinyPartConfig('gpt'), recipe);
    const there = stage1Task(tiny.cache, tinyPartConfig('gpt'), recipe, { device: dev });
    const [a, b] = [onCpu.model.parameters(), there.model.parameters()];
    for (let i = 0; i < a.length; i++) {
      assert.match(b[i].device, new RegExp(`^${dev.split(':')[0]}`));
      assert.deepEqual(b[i].cpu().toArray(), a[i].toArray(), `parameter ${i}`);
    }
    await runTraining(there, { steps: 3, outDir: join(root, 's1'), quiet: true });
    for (const f of ['model', 'ema', 'optimizer']) assertSavedFinite(join(root, 's1', `${f}.safetensors`));

    const s2 = stage2Task(
      tiny.cache,
      tinyPartConfig('mar'),
      { ...STAGE2_RECIPE, steps: 2, batchSize: 4, warmup: 0 },
      { device: dev },
    );
    await runTraining(s2, { steps: 2, outDir: join(root, 's2'), quiet: true });
    for (const f of ['model', 'ema', 'optimizer']) assertSavedFinite(join(root, 's2', `${f}.safetensors`));
  });

  test('a VQ step with its PatchGAN there, in bf16; the checkpoint loads on the CPU', async () => {
    const train = { ...VQ_TRAIN_DEFAULTS, gan: { ...(VQ_TRAIN_DEFAULTS.gan as object), start: 0 } } as typeof VQ_TRAIN_DEFAULTS;
    const recipe = { steps: 2, batchSize: 4, emaDecay: 0.999, seed: 0, hflip: true, train, precision: 'bf16' as const };
    const task = await tokenizerTask(tinySet(8), tinyPartConfig('vq'), recipe, { device: dev });
    await runTraining(task, { steps: 2, outDir: join(root, 'vq-run'), quiet: true });
    for (const f of ['model', 'ema', 'discriminator']) assertSavedFinite(join(root, 'vq-run', `${f}.safetensors`));
    const { model } = loadPart(join(root, 'vq-run'));
    assert.equal(model.parameters()[0].device, 'cpu');
  });

  test('the token cache built there matches the CPU’s', async () => {
    const vq = loadPart<VQModel>(tiny.vq, { device: dev });
    const kl = loadPart<AutoencoderKL>(tiny.kl, { device: dev });
    const out = join(root, 'cache-there');
    const o = { vqDir: tiny.vq, klDir: tiny.kl, set: tinySet(), outDir: out, batchSize: 8, shardSize: 16 };
    await buildTokenCache({ ...o, vq: vq.model, kl: kl.model });
    const a = loadTokenCache(tiny.cache).data;
    const b = loadTokenCache(out).data;
    const codes = [a.codes.toArray(), b.codes.toArray()];
    const same = codes[0].filter((c, i) => c === codes[1][i]).length / codes[0].length;
    assert.ok(same >= 0.99, `only ${(100 * same).toFixed(1)}% of the codes agree`); // near-ties may flip under TF32
    assertClose(b.mean, a.mean, { atol: 1e-2, rtol: 1e-2, what: 'posterior means' });
  });

  test('a model folder samples there, in fp32 and bf16', async () => {
    const folder = await tinyModel(join(root, 'folder'));
    for (const precision of ['fp32', 'bf16'] as const) {
      const m = D2C.fromPretrained(folder, { device: dev, precision });
      const r = m.generate({ classes: [0, 1], seed: 0 });
      const images = r.images.cpu();
      assert.deepEqual(images.shape, [2, 1, 32, 32]);
      assert.equal(images.dtype, 'float32');
      assert.ok(images.toArray().every(Number.isFinite), `${precision} images are not finite`);
      torch.dispose([r, images]);
    }
  });
});
