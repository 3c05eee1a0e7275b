// Stage-1 sampling: KV-cache generation against a cache-free reference loop, classifier-free
// guidance, top-k / top-p, seeding, and a small GPT that memorises one code sequence per class.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GPT, gptConfig } from '../src/generators/gpt.ts';
import { cfgLogits, filterLogits, generate, sampleFromLogits } from '../src/generators/gpt_sample.ts';
import { AdamW } from '../src/optim/index.ts';
import type { Tensor } from '../src/torch/index.ts';
import * as torch from '../src/torch/index.ts';
import { assertRelClose, loadTinyReference } from './helpers/gpt_tiny.ts';

const long = (xs: number[]) => torch.tensor(xs, { dtype: 'int64' });

/**
 * Greedy guided decoding without a cache: the full forward over [cond; null] rows for every new
 * code. `guided(t)` says whether code t uses guidance (LlamaGen: the prefill code always does).
 */
function greedyWithoutCache(model: GPT, labels: Tensor, n: number, scale: number, guided: (t: number) => boolean): number[][] {
  return torch.noGrad(() =>
    torch.tidy(() => {
      const B = labels.shape[0];
      const both = torch.cat([labels, torch.fullLike(labels, model.config.numClasses)]);
      let codes = torch.zeros([B, 0], { dtype: 'int64' });
      for (let t = 0; t < n; t++) {
        const logits = model.forward(torch.cat([codes, codes]), both).select(1, t); // [2B, V]
        const l = guided(t) ? cfgLogits(logits, scale) : logits.narrow(0, 0, B);
        codes = torch.cat([codes, l.argmax(-1, true)], 1);
      }
      return [...Array(B).keys()].map((b) => codes.select(0, b).toArray());
    }),
  );
}

const rows = (t: Tensor) => [...Array(t.shape[0]).keys()].map((b) => t.select(0, b).toArray());

test('guided KV-cache decoding equals guided decoding without a cache, with and without a CFG interval', () => {
  const { model, config } = loadTinyReference();
  const labels = long([3, 7, 0]);
  const n = config.blockSize;
  const full = rows(generate(model, labels, { greedy: true, cfgScale: 4 }));
  assert.deepEqual(
    full,
    greedyWithoutCache(model, labels, n, 4, () => true),
  );
  // cfgInterval 2: the prefill code and decode steps 0..2 (codes 1..3) are guided, later ones conditional
  const interval = rows(generate(model, labels, { greedy: true, cfgScale: 4, cfgInterval: 2 }));
  assert.deepEqual(
    interval,
    greedyWithoutCache(model, labels, n, 4, (t) => t <= 3),
  );
  assert.notDeepEqual(full, interval);
});

test('CFG with scale 1 gives the conditional logits', () => {
  const { model, io } = loadTinyReference();
  const codes = io.get('codes')!.narrow(1, 0, 15);
  const labels = long([3, 5]);
  torch.noGrad(() => {
    const cond = model.forward(codes, labels); // [2, 16, V]
    const both = model.forward(torch.cat([codes, codes]), torch.cat([labels, long([10, 10])])); // [4, 16, V]
    for (let t = 0; t < 16; t += 5) {
      assertRelClose(cfgLogits(both.select(1, t), 1), cond.select(1, t), 1e-6, `position ${t}`);
      const guided = cfgLogits(both.select(1, t), 3);
      const [c, u] = both.select(1, t).chunk(2, 0);
      assertRelClose(guided, u.add(c.sub(u).mul(3)), 1e-6, 'scale 3');
    }
  });
  // unguided sampling (scale 1) runs only the conditional rows and equals the teacher-forced argmax
  const greedy = rows(generate(model, labels, { greedy: true }));
  const ref = greedyWithoutCache(model, labels, 16, 1, () => false);
  assert.deepEqual(greedy, ref);
});

test('top-k = 1 equals greedy decoding; the same seed gives the same codes', () => {
  const { model } = loadTinyReference();
  const labels = long([1, 2, 3, 4]);
  const greedy = generate(model, labels, { greedy: true, cfgScale: 2 }).toArray();
  const top1 = generate(model, labels, { topK: 1, temperature: 1.5, cfgScale: 2, generator: new torch.Generator(5) }).toArray();
  assert.deepEqual(top1, greedy);

  const draw = (seed: number) =>
    generate(model, labels, {
      cfgScale: 2,
      temperature: 1.2,
      topK: 20,
      topP: 0.95,
      generator: new torch.Generator(seed),
    }).toArray();
  assert.deepEqual(draw(11), draw(11));
  assert.notDeepEqual(draw(11), draw(12));
  assert.throws(() => generate(model, labels, {}), /seeded torch.Generator/);
});

test('top-k and top-p keep the expected codes', () => {
  // probabilities 0.5, 0.25, 0.15, 0.1 (in a shuffled vocabulary order)
  const logits = torch.tensor([[0.15, 0.5, 0.1, 0.25].map(Math.log)]);
  const kept = (t: Tensor) => t.toArray().map((v) => v > Number.NEGATIVE_INFINITY);
  assert.deepEqual(kept(filterLogits(logits, 2)), [false, true, false, true]);
  // nucleus 0.6: 0.5 alone is below 0.6, so the next code (0.25) joins; the rest is dropped
  assert.deepEqual(kept(filterLogits(logits, 0, 0.6)), [false, true, false, true]);
  assert.deepEqual(kept(filterLogits(logits, 0, 0.8)), [true, true, false, true]);
  assert.deepEqual(kept(filterLogits(logits, 0, 0.4)), [false, true, false, false]);
  assert.deepEqual(kept(filterLogits(logits, 3, 0.4)), [false, true, false, false]);
  // sampling draws only kept codes
  const { model } = loadTinyReference();
  const codes = generate(model, long([0, 1]), { topK: 3, generator: new torch.Generator(0), numTokens: 4 });
  assert.deepEqual(codes.shape, [2, 4]);
});

test('a top-k draw follows the renormalised top-k distribution, as a masked draw over the vocabulary does', () => {
  torch.tidy(() => {
    // probabilities 0.4, 0.1, 0.3, 0.05, 0.15: the top 3 renormalise to 0.470588, 0.352941, 0.176471
    const row = [0.4, 0.1, 0.3, 0.05, 0.15].map(Math.log);
    const n = 40_000;
    const logits = torch.tensor([row]).expand(n, 5).contiguous();
    const expected = [0.4 / 0.85, 0, 0.3 / 0.85, 0, 0.15 / 0.85];
    const histogram = (codes: Tensor) => {
      const counts = [0, 0, 0, 0, 0];
      for (const c of codes.toArray()) counts[c]++;
      return counts.map((c) => c / n);
    };
    const fast = histogram(sampleFromLogits(logits, { topK: 3, generator: new torch.Generator(1) }));
    const masked = histogram(torch.multinomial(filterLogits(logits, 3).softmax(-1), 1, false, new torch.Generator(2)));
    for (let i = 0; i < 5; i++) {
      // 4 standard deviations of a frequency at n = 40,000 is at most 0.01
      assert.ok(Math.abs(fast[i] - expected[i]) < 0.01, `top-k draw: code ${i} at ${fast[i]}, expected ${expected[i]}`);
      assert.ok(Math.abs(masked[i] - expected[i]) < 0.01, `masked draw: code ${i} at ${masked[i]}, expected ${expected[i]}`);
    }
  });
});

test('generation keeps the live-tensor count flat and restores the training flag', () => {
  const { model } = loadTinyReference();
  model.train();
  const labels = long([0, 1]);
  const g = new torch.Generator(0);
  generate(model, labels, { cfgScale: 3, generator: g }).dispose();
  const before = torch.liveTensors();
  for (let i = 0; i < 3; i++) generate(model, labels, { cfgScale: 3, generator: g }).dispose();
  assert.equal(torch.liveTensors(), before);
  assert.equal(model.training, true);
});

test('a small GPT memorises one code sequence per class; greedy decoding reproduces it', () => {
  const gen = new torch.Generator(0);
  const config = gptConfig('gpt_test', { tokenDropoutP: 0, residDropoutP: 0, ffnDropoutP: 0, classDropoutProb: 0 });
  const model = new GPT(config, { generator: gen });
  const labels = long([0, 1, 2, 3]);
  const codes = torch.keep(torch.randint(0, config.vocabSize, [4, config.blockSize], { generator: gen })); // [4, 16]
  const opt = new AdamW(model.parameters(), { lr: 3e-3, weightDecay: 0 });
  let loss = Number.POSITIVE_INFINITY;
  for (let step = 0; step < 300 && loss > 0.01; step++) {
    loss = torch.tidy(() => {
      opt.zeroGrad();
      const l = model.loss(codes, labels, gen);
      l.backward();
      opt.step();
      return l.item();
    });
  }
  assert.ok(loss < 0.05, `final loss ${loss}`);
  assert.deepEqual(generate(model, labels, { greedy: true }).toArray(), codes.toArray());
  opt.dispose();
});
