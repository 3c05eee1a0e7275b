// Error paths free what they hold: evaluation whose sampler throws midway, stage-2 sampling stopped
// by its signal, and D2C.generate aborted by an AbortSignal all leave torch.liveTensors() as it was.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { evaluateSamples } from '../src/eval/evaluate.ts';
import { CLASSIFIER_PRESETS, classifierFeatureNetwork, FmnistClassifier } from '../src/eval/fmnist_classifier.ts';
import type { MAR } from '../src/generators/mar.ts';
import { sampleTokens } from '../src/generators/mar_sample.ts';
import { D2C } from '../src/pipeline/d2c.ts';
import { buildPart } from '../src/pipeline/parts.ts';
import * as torch from '../src/torch/index.ts';
import { blankImageSet } from './helpers/blank_set.ts';
import { tinyModelFolder } from './helpers/tiny_model_folder.ts';
import { tinyPartConfig } from './helpers/tiny_pipeline.ts';

torch.setNumThreads(1);

test('evaluateSamples: a sampler that throws after a batch leaves no tensor behind', async () => {
  const net = classifierFeatureNetwork(new FmnistClassifier(CLASSIFIER_PRESETS.tiny, { generator: new torch.Generator(0) }));
  const reference = blankImageSet(8);
  const before = torch.liveTensors();
  let calls = 0;
  await assert.rejects(
    evaluateSamples(
      async (c) => {
        if (calls++ === 1) throw new Error('sampler broke');
        return torch.zeros([c.length, 1, 32, 32]);
      },
      { net, reference, n: 8, batchSize: 4, numClasses: 2 },
    ),
    /sampler broke/,
  );
  assert.equal(calls, 2, 'the first batch was embedded and kept before the throw');
  assert.equal(torch.liveTensors(), before);
  // A batch of the wrong shape is freed too.
  await assert.rejects(
    evaluateSamples(async (c) => torch.zeros([c.length, 1, 28, 28]), { net, reference, n: 4, numClasses: 2 }),
    /sampler returned/,
  );
  assert.equal(torch.liveTensors(), before);
});

test('sampleTokens stopped by its signal mid-loop frees every tensor of the loop', () => {
  const pc = tinyPartConfig('mar', { fusion: 'none' });
  const mar = buildPart('mar', pc.config) as MAR;
  const before = torch.liveTensors();
  const ac = new AbortController();
  assert.throws(
    () =>
      sampleTokens(mar, 2, {
        numIter: 8,
        generator: new torch.Generator(0),
        signal: ac.signal,
        progress: (step) => {
          if (step === 2) ac.abort(new Error('stop at step 3'));
        },
      }),
    /stop at step 3/,
  );
  assert.equal(torch.liveTensors(), before);
});

test('D2C.generate takes an AbortSignal: it stops at the next step, every tensor freed', () => {
  const d2c = D2C.fromPretrained(tinyModelFolder(join(mkdtempSync(join(tmpdir(), 'd2c-abort-')), 'model')));
  const before = torch.liveTensors();
  const ac = new AbortController();
  const seen: string[] = [];
  assert.throws(
    () =>
      d2c.generate({ classes: [1, 2], stage2: { steps: 8 }, signal: ac.signal }, (p) => {
        seen.push(`${p.stage}:${p.step}`);
        if (p.stage === 'stage2' && p.step === 1) ac.abort();
      }),
    (e: Error) => e.name === 'AbortError',
  );
  assert.deepEqual(seen, ['stage1:0', 'stage1:1', 'stage2:1'], 'stopped at the step after the abort');
  assert.equal(torch.liveTensors(), before);
  // Aborted before it starts: nothing runs.
  assert.throws(
    () => d2c.generate({ classes: [0], signal: AbortSignal.abort() }),
    (e: Error) => e.name === 'AbortError',
  );
  assert.equal(torch.liveTensors(), before);
});

test('D2C.generate stops mid-stage 1 at the next code, every tensor freed', () => {
  const d2c = D2C.fromPretrained(tinyModelFolder(join(mkdtempSync(join(tmpdir(), 'd2c-abort1-')), 'model')));
  const before = torch.liveTensors();
  // Checked once before generating, once before stage 1's first code, then before each next code.
  let checks = 0;
  const signal = {
    throwIfAborted() {
      if (++checks === 10) throw new Error('stop at code 9');
    },
  };
  const seen: string[] = [];
  assert.throws(() => d2c.generate({ classes: [1, 2], signal }, (p) => seen.push(`${p.stage}:${p.step}`)), /stop at code 9/);
  assert.equal(checks, 10);
  assert.deepEqual(seen, ['stage1:0'], 'stage 1 did not finish');
  assert.equal(torch.liveTensors(), before);
});
