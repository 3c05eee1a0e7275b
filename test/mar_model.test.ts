// MAR + D2C fusion: parity with LTH14/mar (fixture mar_tiny), pinned MAR-B names, each fusion
// overfits a fixed batch, condition dropout, seeded sampling and the masking schedule.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { FUSIONS, type Fusion } from '../src/generators/fusion.ts';
import { MAR, type MARConfig, marConfig, marStateDictShapes } from '../src/generators/mar.ts';
import { maskSchedule, sampleTokens, stepMasks } from '../src/generators/mar_sample.ts';
import { AdamW } from '../src/optim/index.ts';
import * as torch from '../src/torch/index.ts';

// Tiny models: one thread avoids OpenMP oversubscription on the shared 2-core runner (10x here).
torch.setNumThreads(1);

const FIX = new URL('./fixtures/', import.meta.url).pathname;
const io = torch.loadSafetensors(`${FIX}reference/mar_tiny.io.safetensors`);
const weights = torch.loadSafetensors(`${FIX}reference/mar_tiny.weights.safetensors`);
const get = (k: string) => {
  const t = io.get(k);
  if (!t) throw new Error(`fixture lacks ${k}`);
  return t;
};

function close(a: torch.Tensor, b: torch.Tensor, name: string, tol = 1e-4): void {
  assert.deepEqual(a.shape, b.shape, `${name}: shape`);
  const diff = a.sub(b).abs().max().item();
  const scale = Math.max(1, b.abs().max().item());
  assert.ok(diff <= tol * scale, `${name}: max diff ${diff} > ${tol} * ${scale}`);
}

// Tiny D2C models for behaviour tests: the fixture's shapes, no dropout, a 64-code codebook.
const tiny = (fusion: Fusion, o: Partial<MARConfig> = {}) =>
  new MAR(marConfig('mar_tiny', { fusion, attnDropout: 0, projDropout: 0, ...o }), { generator: new torch.Generator(0) });

test('MAE encoder and decoder match the reference for the given tokens, mask and class embedding', () => {
  torch.tidy(() => {
    const m = new MAR(marConfig('mar_tiny'));
    m.loadStateDict(weights);
    m.eval();
    close(m.class_emb.forward(get('labels')), get('class_embedding'), 'class_embedding');
    close(m.forwardMaeEncoder(get('tokens'), get('mask'), get('class_embedding')), get('encoder_out'), 'encoder_out');
    close(m.forwardMaeDecoder(get('encoder_out'), get('mask')), get('decoder_out'), 'decoder_out');
  });
});

test('state-dict names and shapes equal the reference (mar_tiny weights, pinned mar_base keys)', () => {
  const tinyRef = Object.fromEntries([...weights].map(([k, t]) => [k, t.shape]));
  assert.deepEqual(marStateDictShapes('mar_tiny'), tinyRef);
  const base = JSON.parse(readFileSync(`${FIX}keys_mar_base.json`, 'utf8')) as {
    keys: Record<string, number[]>;
    num_parameters: number;
  };
  const ours = marStateDictShapes('mar_base');
  assert.deepEqual(ours, base.keys);
  assert.equal(
    Object.values(ours).reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0),
    base.num_parameters,
  );
  // A fusion keeps every MAR name and adds its own modules.
  const q = marStateDictShapes('mar_base', { fusion: 'qformer' });
  for (const [k, s] of Object.entries(base.keys)) assert.deepEqual(q[k], s, k);
  const added = Object.keys(q).filter((k) => !(k in base.keys));
  assert.ok(added.includes('qformer.queries') && added.includes('qformer.layers.0.cross_attn.kv.weight'));
  assert.ok(added.includes('disc_encoder.code_emb.weight') && added.includes('null_cond'));
  assert.deepEqual(q['qformer.queries'], [1, 64, 768]);
  const x = marStateDictShapes('mar_base', { fusion: 'crossattn' });
  assert.deepEqual(x['decoder_blocks.11.cross_attn.q.weight'], [768, 768]);
  assert.ok('fusion_enc_proj.weight' in marStateDictShapes('mar_tiny', { fusion: 'add' }));
  assert.throws(() => marConfig('mar_base', { fusion: 'concat' as Fusion }), /unknown fusion 'concat'/);
  assert.throws(() => marConfig('mar_xl'), /unknown MAR preset 'mar_xl'/);
});

for (const fusion of FUSIONS) {
  test(`fusion ${fusion}: the loss falls on a fixed tiny batch, and memory stays flat`, () => {
    const m = tiny(fusion, { labelDropProb: 0, condDropProb: 0, diffusionBatchMul: 2 });
    const g = new torch.Generator(1);
    const latents = torch.keep(torch.randn([4, 16, 4, 4], { generator: g }));
    const labels = torch.keep(torch.tensor(BigInt64Array.from([0n, 1n, 2n, 3n])));
    const codes = torch.keep(torch.randint(0, 64, [4, 16], { generator: g }));
    const opt = new AdamW(m.parameters(), { lr: 2e-3, weightDecay: 0 });
    // The same seed every step: the same order, mask, t and noise, so the objective is fixed.
    const step = () =>
      torch.tidy(() => {
        m.zeroGrad();
        const loss = m.forward(latents, labels, codes, new torch.Generator(5));
        loss.backward();
        opt.step();
        return loss.item();
      });
    const first = step();
    const live = torch.liveTensors();
    let last = first;
    for (let i = 0; i < 30; i++) last = step();
    assert.ok(torch.liveTensors() <= live, `live tensors grew: ${live} -> ${torch.liveTensors()}`);
    assert.ok(last < 0.7 * first, `loss ${first} -> ${last}`);
  });
}

for (const fusion of ['crossattn', 'qformer'] as const) {
  test(`fusion ${fusion}: runs with the discrete condition dropped (training and guided sampling)`, () => {
    torch.tidy(() => {
      const m = tiny(fusion, { condDropProb: 1 });
      const codes = torch.randint(0, 64, [2, 16], { generator: new torch.Generator(2) });
      const labels = torch.tensor(BigInt64Array.from([3n, 4n]));
      const loss = m.forward(torch.randn([2, 16, 4, 4]), labels, codes, new torch.Generator(3));
      assert.ok(Number.isFinite(loss.item()));
      for (const cfgDrop of ['codes', 'both', 'class'] as const) {
        const out = sampleTokens(m, 2, { labels, codes, numIter: 2, cfg: 2, cfgDrop, generator: new torch.Generator(4) });
        assert.deepEqual(out.shape, [2, 16, 4, 4]);
        assert.ok(out.isfinite().logicalNot().sum().item() === 0);
      }
      assert.throws(() => sampleTokens(m, 2, { labels, numIter: 2 }), /needs stage-1 codes/);
    });
  });
}

test('sampling is deterministic for a seed (plain MAR and qformer, with CFG), and frees its tensors', () => {
  for (const fusion of ['none', 'qformer'] as const) {
    const m = tiny(fusion);
    const labels = torch.keep(torch.tensor(BigInt64Array.from([1n, 7n, 2n])));
    const codes = torch.keep(torch.randint(0, 64, [3, 16], { generator: new torch.Generator(9) }));
    const draw = (seed: number) =>
      torch.tidy(() =>
        sampleTokens(m, 3, {
          labels,
          codes,
          numIter: 4,
          cfg: 3,
          temperature: 0.9,
          generator: new torch.Generator(seed),
        }).toArray(),
      );
    const a = draw(11);
    const live = torch.liveTensors();
    assert.deepEqual(draw(11), a);
    assert.notDeepEqual(draw(12), a);
    assert.equal(torch.liveTensors(), live);
    assert.equal(m.training, true, 'sampling restores the training flag');
  }
});

test('the mask schedule predicts every token exactly once, at least one per step', () => {
  for (const [L, n] of [
    [16, 1],
    [16, 4],
    [16, 16],
    [64, 7],
    [256, 64],
    [4, 9],
  ]) {
    torch.tidy(() => {
      const plan = maskSchedule(L, n);
      const orders = torch.rand([3, L], { generator: new torch.Generator(L + n) }).argsort(-1);
      let mask = torch.ones([3, L]);
      const count = torch.zeros([3, L]);
      for (let s = 0; s < n; s++) {
        const { toPred, maskNext } = stepMasks(mask, orders, plan[s], s === n - 1);
        const k = toPred.sum(1).toArray();
        assert.ok(
          k.every((v) => v === k[0]),
          'every row predicts as many tokens',
        );
        if (n <= L) assert.ok(k[0] >= 1, `L ${L}, ${n} iters: step ${s} predicts nothing`);
        count.add_(toPred.float());
        mask = maskNext;
      }
      assert.deepEqual([...new Set(count.toArray())], [1], `L ${L}, ${n} iters`);
    });
  }
  // MAR's figures: 256 tokens in 64 steps start slowly (cosine) and leave mask_len ≥ 1 for the CFG ramp.
  const p = maskSchedule(256, 64);
  assert.equal(p[0], 255);
  assert.equal(p.at(-1), 1);
  assert.throws(() => maskSchedule(16, 0), /numIter must be a positive integer/);
});
