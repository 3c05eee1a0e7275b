// Stage-1 GPT: parity with LlamaGen's reference outputs (llamagen_gpt_tiny), the official GPT-B
// state-dict layout, the training loss and class dropout.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { GPT, GPT_PRESETS, type GPTPreset, gptConfig, gptNumParams, gptStateShapes } from '../src/generators/gpt.ts';
import * as torch from '../src/torch/index.ts';
import { assertRelClose, loadTinyReference } from './helpers/gpt_tiny.ts';

test('full-sequence logits match LlamaGen (llamagen_gpt_tiny)', () => {
  const { model, io } = loadTinyReference();
  torch.noGrad(() => {
    const codes = io.get('codes')!;
    const logits = model.forward(codes.narrow(1, 0, codes.shape[1] - 1), io.get('class_ids')!); // [2, 16, 64]
    assertRelClose(logits, io.get('logits')!, 1e-4, 'logits');
  });
});

test('KV-cache prefill + teacher-forced decoding matches cached_logits', () => {
  const { model, io, config } = loadTinyReference();
  const codes = io.get('codes')!;
  const before = torch.liveTensors();
  torch.noGrad(() =>
    torch.tidy(() => {
      model.setupCaches(2, config.clsTokenNum + config.blockSize);
      const steps = [model.prefill(io.get('class_ids')!)];
      for (let i = 0; i < config.blockSize - 1; i++) steps.push(model.decode(codes.narrow(1, i, 1), config.clsTokenNum + i));
      assertRelClose(torch.stack(steps, 1), io.get('cached_logits')!, 1e-4, 'cached_logits');
      model.clearCaches();
    }),
  );
  assert.equal(torch.liveTensors(), before, 'caches and step tensors are released');
});

test('a multi-token step after a cached prefix equals one-at-a-time decoding (offset causal mask)', () => {
  const { model, io, config } = loadTinyReference();
  const codes = io.get('codes')!;
  const labels = io.get('class_ids')!;
  torch.noGrad(() =>
    torch.tidy(() => {
      model.setupCaches(2, 1 + config.blockSize);
      model.prefill(labels);
      model.decode(codes.narrow(1, 0, 3), 1); // 3 codes at once at positions 1..3: [2, V] of the last
      const chunk = model.decode(codes.narrow(1, 3, 4), 4);
      assertRelClose(chunk, io.get('cached_logits')!.select(1, 7), 1e-4, 'logits after a 4-code chunk');
      model.clearCaches();
    }),
  );
});

test('gpt_b has exactly the official state-dict names and shapes (keys_gpt_b.json)', () => {
  // keys_gpt_b.json lists LlamaGen's own GPT_B(...).state_dict(), made by scripts/fixtures/gpt_keys.py.
  const pinned = JSON.parse(readFileSync(new URL('./fixtures/keys_gpt_b.json', import.meta.url), 'utf8'));
  const ours = gptStateShapes(gptConfig('gpt_b'));
  assert.deepEqual(Object.keys(ours).sort(), Object.keys(pinned.shapes).sort());
  assert.deepEqual(ours, pinned.shapes);
  assert.equal(gptNumParams(gptConfig('gpt_b')), pinned.num_parameters);
  assert.equal(Math.round(gptNumParams(gptConfig('gpt_l')) / 1e6), 343);
  assert.equal(Math.round(gptNumParams(gptConfig('gpt_xl')) / 1e6), 775);
});

test('gptStateShapes describes the modules a preset builds', () => {
  for (const preset of ['gpt_test', 'gpt_fmnist'] as GPTPreset[]) {
    const model = new GPT(gptConfig(preset), { generator: new torch.Generator(0) });
    const built = Object.fromEntries([...model.stateDict()].map(([k, t]) => [k, t.shape]));
    assert.deepEqual(built, gptStateShapes(model.config), preset);
    assert.equal(model.numParameters(), gptNumParams(model.config));
    torch.dispose(model.parameters());
  }
  assert.ok(GPT_PRESETS.gpt_fmnist.blockSize === 64 && GPT_PRESETS.gpt_fmnist.vocabSize === 512);
});

test('bad configs and inputs fail early with the bad value', () => {
  assert.throws(() => new GPT(gptConfig('gpt_test', { blockSize: 15 })), /blockSize 15 is not a square/);
  assert.throws(() => new GPT(gptConfig('gpt_test', { dim: 66 })), /dim 66 not divisible by nHead 4/);
  assert.throws(() => gptConfig('gpt_zz' as GPTPreset), /unknown GPT preset 'gpt_zz'/);
  const model = new GPT(gptConfig('gpt_test'));
  assert.throws(
    () => model.loss(torch.zeros([2, 10], { dtype: 'int64' }), torch.zeros([2], { dtype: 'int64' })),
    /16 codes per row, got 10/,
  );
  assert.throws(() => model.decode(torch.zeros([2, 1], { dtype: 'int64' }), 1), /no KV cache/);
});

test('loss is next-token cross-entropy; seeded dropout makes training steps reproducible', () => {
  const { model, io, config } = loadTinyReference();
  const codes = io.get('codes')!;
  const labels = io.get('class_ids')!;
  torch.noGrad(() => {
    const logits = model.forward(codes.narrow(1, 0, 15), labels); // [2, 16, V]
    const expected = logits.logSoftmax(-1).gather(2, codes.unsqueeze(2)).mean().neg().item();
    assert.ok(Math.abs(model.loss(codes, labels).item() - expected) < 1e-5);
  });
  model.train();
  const a = model.loss(codes, labels, new torch.Generator(7)).item();
  const b = model.loss(codes, labels, new torch.Generator(7)).item();
  const c = model.loss(codes, labels, new torch.Generator(8)).item();
  assert.equal(a, b);
  assert.notEqual(a, c);
  // gradients reach every parameter
  model.loss(codes, labels, new torch.Generator(1)).backward();
  for (const [name, p] of model.namedParameters()) {
    const g = p.grad;
    assert.ok(g !== null && g.abs().sum().item() > 0, `no gradient for ${name}`);
  }
  assert.equal(config.classDropoutProb, 0.1);
});

test('class dropout replaces labels by the null class (last embedding row)', () => {
  const model = new GPT(gptConfig('gpt_test', { classDropoutProb: 1 - 1e-9 }), { generator: new torch.Generator(0) }).train();
  const emb = model.cls_embedding;
  const out = emb.forward(torch.tensor([0, 1, 2, 3], { dtype: 'int64' }), new torch.Generator(3)); // [4, 1, D]
  const nullRow = emb.embedding_table.weight.select(0, 4);
  for (let i = 0; i < 4; i++) assert.deepEqual(out.select(0, i).squeeze(0).toArray(), nullRow.toArray());
  model.eval();
  const kept = emb.forward(torch.tensor([2], { dtype: 'int64' })).view(-1);
  assert.deepEqual(kept.toArray(), emb.embedding_table.weight.select(0, 2).toArray());
});
