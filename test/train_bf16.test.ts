// bf16 mixed-precision training (torch.autocast): a tiny stage-1 GPT lowers its loss like the
// same run in fp32, its weights, optimizer state and EMA stay float32, and a bf16 checkpoint
// resumes bit-exactly (its recipe keeps the precision).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as torch from '../src/torch/index.ts';
import type { Recipe } from '../src/train/recipe.ts';
import { STAGE1_RECIPE, stage1Task } from '../src/train/stage1_task.ts';
import { runTraining } from '../src/train/trainer.ts';
import { tinyCache, tinyPartConfig } from './helpers/tiny_pipeline.ts';

const STEPS = 16; // enough for the loss to fall well beyond bf16 rounding
const recipe = (precision: torch.Precision): Recipe => ({
  ...STAGE1_RECIPE,
  steps: STEPS,
  batchSize: 4,
  lr: 3e-3,
  warmup: 0,
  schedule: 'constant',
  precision,
});

let root = '';
let cache = '';
before(async () => {
  torch.setNumThreads(1);
  root = mkdtempSync(join(tmpdir(), 'd2c-bf16-'));
  cache = (await tinyCache(root)).cache;
});
after(() => rmSync(root, { recursive: true, force: true }));

async function losses(precision: torch.Precision): Promise<number[]> {
  const task = stage1Task(cache, tinyPartConfig('gpt'), recipe(precision));
  const out: number[] = [];
  const step = task.step.bind(task);
  task.step = (s: number) => {
    const m = step(s) as Record<string, number>;
    out.push(m.loss);
    return m;
  };
  await runTraining(task, { steps: STEPS, outDir: join(root, `run-${precision}`), quiet: true, saveEvery: 1e9 });
  for (const p of task.model.parameters()) assert.equal(p.dtype, 'float32', 'bf16 training keeps float32 master weights');
  return out;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

test('bf16 lowers the loss of a tiny GPT like fp32: the last 4 steps agree within 10% of the loss drop', async () => {
  const fp32 = await losses('fp32');
  const bf16 = await losses('bf16');
  const drop = fp32[0] - mean(fp32.slice(-4));
  assert.ok(drop > 0.3, `fp32 did not train: ${fp32[0]} → ${mean(fp32.slice(-4))}`);
  assert.ok(Math.abs(bf16[0] - fp32[0]) < 0.01, `first loss: bf16 ${bf16[0]} vs fp32 ${fp32[0]}`);
  const gap = Math.abs(mean(bf16.slice(-4)) - mean(fp32.slice(-4)));
  assert.ok(
    gap < 0.1 * drop,
    `last-4 mean: bf16 ${mean(bf16.slice(-4))} vs fp32 ${mean(fp32.slice(-4))} (gap ${gap}, drop ${drop})`,
  );
  process.stderr.write(
    `fp32 ${fp32[0].toFixed(4)} → ${mean(fp32.slice(-4)).toFixed(4)}, bf16 ${bf16[0].toFixed(4)} → ${mean(bf16.slice(-4)).toFixed(4)}\n`,
  );
  assert.notDeepEqual(bf16, fp32, 'bf16 gave the very losses of fp32: autocast did not engage');
});

test('a bf16 checkpoint resumes bit-exactly: k steps, save, resume from its recipe, = N steps straight', async () => {
  const straight = stage1Task(cache, tinyPartConfig('gpt'), recipe('bf16'));
  await runTraining(straight, { steps: 6, outDir: join(root, 'straight'), quiet: true, saveEvery: 1e9 });

  const first = stage1Task(cache, tinyPartConfig('gpt'), recipe('bf16'));
  await runTraining(first, { steps: 6, outDir: join(root, 'split'), quiet: true, interruptAfter: 3 });
  const saved = JSON.parse(readFileSync(join(root, 'split', 'config.json'), 'utf8')).recipe as Recipe;
  assert.equal(saved.precision, 'bf16', 'the checkpoint records its precision');
  const second = stage1Task(cache, tinyPartConfig('gpt'), { ...recipe('fp32'), ...saved });
  const r = await runTraining(second, { steps: 6, outDir: join(root, 'split'), quiet: true, resume: true });
  assert.equal(r.step, 6);

  const a = torch.loadSafetensors(join(root, 'straight', 'model.safetensors'));
  const b = torch.loadSafetensors(join(root, 'split', 'model.safetensors'));
  for (const [k, t] of a) {
    assert.equal(t.dtype, 'float32');
    assert.ok(Buffer.from(t.toTypedArray().buffer).equals(Buffer.from(b.get(k)!.toTypedArray().buffer)), `${k} differs`);
  }
  for (const f of ['ema.safetensors', 'optimizer.safetensors']) {
    const x = torch.loadSafetensors(join(root, 'straight', f));
    const y = torch.loadSafetensors(join(root, 'split', f));
    for (const [k, t] of x) {
      if (t.dtype.startsWith('float')) assert.equal(t.dtype, 'float32', `${f} ${k} is float32`);
      assert.ok(Buffer.from(t.toTypedArray().buffer).equals(Buffer.from(y.get(k)!.toTypedArray().buffer)), `${f} ${k} differs`);
    }
  }
});
