// The attention fusions' variants (docs/study, "The paper's fusions"): zero gates reproduce plain
// MAR exactly, tied and initialised positions hold MAR's own, the fusion's LR multiplier reaches
// the optimizer, bad values are refused, and every variant round-trips through safetensors.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { crossWindowMask, type Fusion, fusionConfig } from '../src/generators/fusion.ts';
import { MAR, type MARConfig, marConfig } from '../src/generators/mar.ts';
import { AdamW, paramGroupsNoDecay } from '../src/optim/adamw.ts';
import { resolveConfig } from '../src/pipeline/parts.ts';
import * as torch from '../src/torch/index.ts';
import { withLrScales } from '../src/train/recipe.ts';

torch.setNumThreads(1);

const tiny = (fusion: Fusion, o: Partial<MARConfig> = {}, seed = 0) =>
  new MAR(marConfig('mar_tiny', { fusion, attnDropout: 0, projDropout: 0, ...o }), { generator: new torch.Generator(seed) });

/** The decoder's output z for fixed tokens, mask, class and codes, in eval mode. */
function decoderOutput(m: MAR, codes: torch.Tensor | null): torch.Tensor {
  m.eval();
  const g = new torch.Generator(7);
  const L = m.seqLen;
  const tokens = torch.randn([2, L, m.tokenEmbedDim], { generator: g });
  const mask = m.randomMasking(m.sampleOrders(2, g), 0.5);
  const classEmb = m.class_emb.forward(torch.tensor([1, 3]).to('int64'));
  const F = m.encodeCondition(codes);
  return m.forwardMaeDecoder(m.forwardMaeEncoder(tokens, mask, classEmb, F), mask, F);
}

/** Copies every parameter `plain` has into `fused` (the shared MAR weights). */
function sharePlainWeights(plain: MAR, fused: MAR): void {
  const sd = plain.stateDict();
  const mine = fused.stateDict();
  torch.noGrad(() => {
    for (const [k, t] of sd) {
      const dst = mine.get(k);
      assert.ok(dst, `${k} missing from the fused model`);
      dst.copy_(t);
    }
  });
}

const codes = () => torch.randint(0, 64, [2, 16], { generator: new torch.Generator(3) });

for (const [fusion, extra] of [
  ['crossattn', {}],
  ['qformer', {}],
  ['qformer', { qformerQueries: 16, qformerPlace: 'add', fusionPos: 'tied' }],
] as const) {
  test(`fusion ${fusion} ${JSON.stringify(extra)}: gated at zero, it reproduces plain MAR exactly`, () => {
    torch.tidy(() => {
      const plain = tiny('none');
      const fused = tiny(fusion, { fusionGate: true, ...extra }, 1);
      sharePlainWeights(plain, fused);
      const a = decoderOutput(plain, null);
      const b = decoderOutput(fused, codes());
      assert.equal(a.sub(b).abs().max().item(), 0);
      // Opened, the gate lets the codes in.
      torch.noGrad(() => {
        for (const [k, p] of fused.namedParameters()) if (k.endsWith('gate')) p.fill_(0.5);
      });
      assert.ok(decoderOutput(fused, codes()).sub(a).abs().max().item() > 1e-4, 'an open gate changes the output');
    });
  });
}

test('fusionPos tied: F takes MAR’s own encoder positions of the grid cells; one query per cell starts at them', () => {
  torch.tidy(() => {
    const m = tiny('crossattn', { fusionPos: 'tied' });
    assert.equal(m.disc_encoder?.pos_embed, null, 'no positions of its own');
    const names = [...m.stateDict().keys()];
    assert.ok(!names.includes('disc_encoder.pos_embed'));
    // The tied encoder's F equals that of an encoder with its own positions set to MAR's and the same other weights.
    const c = codes();
    const buf = m.cfg.bufferSize;
    const pos = m.encoder_pos_embed_learned.narrow(1, buf, m.seqLen);
    const own = tiny('crossattn', { fusionPos: 'own' });
    torch.noGrad(() => {
      own.disc_encoder?.pos_embed?.copy_(pos);
      const ownWeights = own.disc_encoder?.stateDict();
      for (const [k, t] of m.disc_encoder?.stateDict() ?? []) ownWeights?.get(k)?.copy_(t);
    });
    m.eval();
    own.eval();
    assert.equal(
      m
        .encodeCondition(c)
        ?.sub(own.encodeCondition(c) as torch.Tensor)
        .abs()
        .max()
        .item(),
      0,
    );

    const q = tiny('qformer', { fusionPos: 'tied', qformerQueries: 16, qformerPlace: 'add' });
    const qpos = q.encoder_pos_embed_learned.narrow(1, q.cfg.bufferSize, q.seqLen);
    assert.equal(q.qformer?.queries.sub(qpos).abs().max().item(), 0, 'queries initialised from MAR’s positions');
  });
});

test('fusionPos matched: each transformer cross-attends to F plus its own positions; keys start as queries', () => {
  torch.tidy(() => {
    const m = tiny('crossattn', { fusionPos: 'matched' });
    for (const blk of [...m.encoder_blocks, ...m.decoder_blocks]) {
      const xa = blk.cross_attn as NonNullable<typeof blk.cross_attn>;
      assert.equal(xa.kv.weight.narrow(0, 0, xa.dim).sub(xa.q.weight).abs().max().item(), 0, 'key projection = query projection');
      assert.ok(xa.kv.weight.narrow(0, xa.dim, xa.dim).sub(xa.q.weight).abs().max().item() > 0, 'values keep their own init');
    }
    // With the decoder's positions set equal to the encoder's, one shifted F serves both transformers:
    // 'matched' fed F equals 'own' with the same weights fed F + the cells' positions.
    const own = tiny('crossattn', { fusionPos: 'own' });
    torch.noGrad(() => {
      for (const [k, t] of m.stateDict()) own.stateDict().get(k)?.copy_(t);
      m.decoder_pos_embed_learned.copy_(m.encoder_pos_embed_learned);
      own.decoder_pos_embed_learned.copy_(m.encoder_pos_embed_learned);
    });
    const c = codes();
    const pos = m.encoder_pos_embed_learned.narrow(1, m.cfg.bufferSize, m.seqLen);
    m.eval();
    own.eval();
    const Fm = m.encodeCondition(c) as torch.Tensor;
    const Fo = (own.encodeCondition(c) as torch.Tensor).add(pos);
    const g = new torch.Generator(7);
    const tokens = torch.randn([2, m.seqLen, m.tokenEmbedDim], { generator: g });
    const mask = m.randomMasking(m.sampleOrders(2, g), 0.5);
    const cls = m.class_emb.forward(torch.tensor([1, 3]).to('int64'));
    const zm = m.forwardMaeDecoder(m.forwardMaeEncoder(tokens, mask, cls, Fm), mask, Fm);
    const zo = own.forwardMaeDecoder(own.forwardMaeEncoder(tokens, mask, cls, Fo), mask, Fo);
    assert.ok(zm.sub(zo).abs().max().item() < 1e-5);
    assert.ok(zm.sub(decoderOutput(own, c)).abs().max().item() > 1e-4, 'the positions change what is attended to');
  });
});

test('crossWindow: the documented cells per position; a window over the whole grid is global attention', () => {
  torch.tidy(() => {
    const m = crossWindowMask(2, 4, 1); // 2 buffer tokens, a 4×4 grid, radius 1
    assert.deepEqual(m.shape, [18, 16]);
    const rows = (m.to('int64').toTypedArray() as BigInt64Array).reduce<number[][]>((acc, v, i) => {
      if (i % 16 === 0) acc.push([]);
      if (v) acc[acc.length - 1].push(i % 16);
      return acc;
    }, []);
    assert.deepEqual(rows[0], [...Array(16).keys()], 'a buffer token sees every cell');
    assert.deepEqual(rows[2], [0, 1, 4, 5], 'corner (0, 0)');
    assert.deepEqual(rows[3], [0, 1, 2, 4, 5, 6], 'edge (0, 1)');
    assert.deepEqual(rows[2 + 5], [0, 1, 2, 4, 5, 6, 8, 9, 10], 'inner (1, 1)');
    // The encoder's mask follows its kept tokens: row k is the window of the k-th kept position.
    const w = tiny('crossattn', { crossWindow: 1 });
    const keep = torch.tensor([[1, 1, 1, 1, 0, 1, ...Array(14).fill(0)]], { dtype: 'bool' }); // the 4 buffer tokens and cell 1
    const enc = (w as unknown as { crossMask(k: torch.Tensor | null): torch.Tensor }).crossMask(keep);
    assert.deepEqual(enc.shape, [1, 1, 5, 16]);
    const cell1 = crossWindowMask(4, 4, 1).narrow(0, 4 + 1, 1);
    assert.equal(enc.select(2, 4).to('int64').sub(cell1.to('int64')).abs().sum().item(), 0);
    // Radius 3 covers a 4×4 grid from every cell: the same outputs as global attention.
    const local = tiny('crossattn', { crossWindow: 3 });
    const global = tiny('crossattn');
    sharePlainWeights(local, global);
    const d = decoderOutput(local, codes()).sub(decoderOutput(global, codes())).abs().max().item();
    assert.ok(d < 1e-5, `window over the whole grid differs from global attention by ${d}`);
    assert.ok(decoderOutput(w, codes()).sub(decoderOutput(global, codes())).abs().max().item() > 1e-4, 'radius 1 masks');
  });
});

test('crossSelfBias: an additive window with the documented values; it shifts attention towards the own cell', () => {
  torch.tidy(() => {
    const m = crossWindowMask(2, 4, 1, undefined, 2.5); // 2 buffer tokens, a 4×4 grid, radius 1
    assert.equal(m.dtype, 'float32');
    const rowsOf = (t: torch.Tensor) => {
      const flat = t.to('float32').toArray() as number[];
      return Array.from({ length: t.shape[0] }, (_, i) => flat.slice(i * 16, (i + 1) * 16));
    };
    const v = rowsOf(m);
    assert.deepEqual(v[0], Array(16).fill(0), 'a buffer token sees every cell, unbiased');
    const inf = Number.NEGATIVE_INFINITY;
    // cell (1, 1) = position 2 + 5: its own cell 5 at 2.5, its neighbours at 0, the rest −∞
    assert.deepEqual(v[2 + 5], [0, 0, 0, inf, 0, 2.5, 0, inf, 0, 0, 0, inf, inf, inf, inf, inf]);
    // the same cells as the bool window
    const allowed = rowsOf(crossWindowMask(2, 4, 1)).map((r) => r.map((x) => x === 1));
    assert.deepEqual(
      v.map((r) => r.map((x) => x > inf)),
      allowed,
    );
    // 0 is the bool window itself; the biased model differs from it, and the bias is not saved
    assert.equal(crossWindowMask(2, 4, 1, undefined, 0).dtype, 'bool');
    const plain = tiny('crossattn', { crossWindow: 1 });
    const biased = tiny('crossattn', { crossWindow: 1, crossSelfBias: 2 });
    sharePlainWeights(plain, biased);
    assert.ok(decoderOutput(plain, codes()).sub(decoderOutput(biased, codes())).abs().max().item() > 1e-4);
    assert.ok(![...biased.stateDict().keys()].some((k) => k.includes('window')));
    const qf = tiny('qformer', { qformerPlace: 'add', crossWindow: 1, crossSelfBias: 2 });
    assert.equal(qf.qformer_window?.dtype, 'float32');
    assert.equal(qf.qformer_window?.select(0, 5).select(0, 5).item(), 2);
  });
});

test('the per-cell Q-Former with crossWindow: each cell’s query reads only the codes of its window', () => {
  torch.tidy(() => {
    // one Q-Former block: its self-attention runs before any code is read, so the window is exact
    // qformerQueries 0 with the per-cell placement: one query per cell (16 on this 4×4 grid)
    const m = tiny('qformer', { qformerPlace: 'add', qformerDepth: 1, crossWindow: 1 }, 3);
    m.eval();
    const q = m.qformer as NonNullable<typeof m.qformer>;
    assert.deepEqual(q.queries.shape, [1, 16, m.cfg.encoderEmbedDim]);
    assert.deepEqual(m.qformer_window?.shape, [16, 16]);
    const F = torch.randn([1, 16, m.cfg.discEmbedDim], { generator: new torch.Generator(1) });
    const far = F.clone();
    far.narrow(1, 15, 1).add_(1); // the code of cell (3, 3), outside cell (0, 0)'s window
    const near = F.clone();
    near.narrow(1, 5, 1).add_(1); // cell (1, 1), inside it
    // the query of cell (0, 0), with the model's window or with none
    const out = (x: torch.Tensor, window: torch.Tensor | null = m.qformer_window) =>
      q.forward(null, x, window ?? undefined).narrow(1, 0, 1);
    assert.equal(out(far).sub(out(F)).abs().max().item(), 0, 'a code outside the window changed the query');
    assert.ok(out(near).sub(out(F)).abs().max().item() > 1e-4, 'a code inside the window is read');
    const global = (x: torch.Tensor) => out(x, null);
    assert.ok(global(far).sub(global(F)).abs().max().item() > 1e-4, 'without the window every code is read');
  });
});

test('fusionLrScale: the fusion’s own parameters get scale × lr, MAR’s keep lr', () => {
  torch.tidy(() => {
    const m = tiny('crossattn', { fusionGate: true, fusionLrScale: 4 });
    const groups = withLrScales(paramGroupsNoDecay(m, 0.02), (n) => m.lrScaleOf(n));
    const opt = new AdamW(groups, { lr: 1e-3 });
    opt.setLr(1e-3);
    const lrOf = new Map<string, number>();
    for (const g of opt.groups) for (const n of g.names) lrOf.set(n, g.lr);
    assert.equal(lrOf.get('encoder_blocks.0.cross_attn.q.weight') ?? lrOf.get('encoder_blocks.0.cross_attn.kv.weight'), 4e-3);
    assert.equal(lrOf.get('encoder_blocks.0.cross_gate'), 4e-3);
    assert.equal(lrOf.get('disc_encoder.code_emb.weight'), 4e-3);
    assert.equal(lrOf.get('encoder_blocks.0.attn.qkv.weight'), 1e-3);
    assert.equal(lrOf.get('diffloss.net.input_proj.weight') ?? 1e-3, 1e-3);
    // Scale 1 keeps the plain grouping (older checkpoints' optimizer state lines up).
    const plain = tiny('crossattn');
    assert.equal(withLrScales(paramGroupsNoDecay(plain, 0.02), (n) => plain.lrScaleOf(n)).length, 2);
  });
});

test('fusion variants: bad values are refused with a message naming the field', () => {
  assert.throws(
    () => marConfig('mar_tiny', { fusion: 'crossattn', fusionPos: 'shared' as never }),
    /fusionPos must be one of own, tied, matched/,
  );
  assert.throws(() => marConfig('mar_tiny', { fusion: 'add', fusionPos: 'matched' }), /'matched' is for the crossattn fusion/);
  assert.throws(
    () => marConfig('mar_tiny', { fusion: 'crossattn', fusionPos: 'matched', discEmbedDim: 32 }),
    /'matched' needs discEmbedDim \(32\)/,
  );
  assert.throws(
    () => marConfig('mar_tiny', { fusion: 'qformer', qformerPlace: 'add', qformerQueries: 8 }),
    /one query per grid cell: qformerQueries 0 or 16, got 8/,
  );
  assert.throws(() => marConfig('mar_tiny', { fusionLrScale: 0 }), /fusionLrScale must be a number > 0/);
  assert.throws(() => marConfig('mar_tiny', { fusion: 'qformer', qformerQueries: 16 }), /qformerQueries must be 0 or 4, got 16/);
  assert.throws(() => marConfig('mar_tiny', { fusion: 'add', fusionPos: 'tied', discEmbedDim: 32 }), /needs discEmbedDim \(32\)/);
  assert.throws(() => marConfig('mar_tiny', { fusion: 'crossattn', crossWindow: -1 }), /crossWindow must be an integer ≥ 0/);
  assert.throws(
    () => marConfig('mar_tiny', { fusion: 'add', crossWindow: 1 }),
    /crossWindow is for crossattn and the per-cell Q-Former/,
  );
  assert.throws(
    () => marConfig('mar_tiny', { fusion: 'qformer', crossWindow: 1 }),
    /crossWindow is for crossattn and the per-cell Q-Former/,
  );
  assert.throws(() => marConfig('mar_tiny', { fusion: 'crossattn', crossSelfBias: 2 }), /crossSelfBias needs local attention/);
  assert.throws(
    () => marConfig('mar_tiny', { fusion: 'crossattn', crossWindow: 1, crossSelfBias: -1 }),
    /crossSelfBias must be a finite number ≥ 0, got -1/,
  );
});

test('every fusion variant round-trips through safetensors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'd2c-fusion-'));
  try {
    const variants: [Fusion, Partial<MARConfig>][] = [
      ['crossattn', { fusionGate: true, fusionPos: 'tied' }],
      ['crossattn', { fusionGate: true, fusionPos: 'matched' }],
      ['crossattn', { fusionGate: true, fusionPos: 'matched', crossWindow: 1 }],
      ['qformer', { fusionGate: true, fusionPos: 'tied', qformerQueries: 16, qformerPlace: 'add' }],
      ['qformer', { fusionGate: true }],
      ['qformer', { qformerQueries: 16, qformerPlace: 'add', crossWindow: 1 }],
      ['crossattn', { crossWindow: 1, crossSelfBias: 2 }],
      ['qformer', { qformerPlace: 'add', crossWindow: 1, crossSelfBias: 2 }],
    ];
    for (const [i, [fusion, o]] of variants.entries()) {
      torch.tidy(() => {
        const a = tiny(fusion, o, 5);
        torch.noGrad(() => {
          for (const [k, p] of a.namedParameters()) if (k.endsWith('gate')) p.fill_(0.3);
        });
        const keys = [...a.stateDict().keys()];
        assert.ok(
          !keys.some((k) => k.startsWith('cross_window') || k.startsWith('qformer_window')),
          'the window is derived, not saved',
        );
        const path = join(dir, `m${i}.safetensors`);
        torch.saveSafetensors(path, a.stateDict());
        const b = tiny(fusion, o, 9);
        const sd = torch.loadSafetensors(path);
        b.loadStateDict(sd);
        assert.equal(decoderOutput(a, codes()).sub(decoderOutput(b, codes())).abs().max().item(), 0, `${fusion} ${i}`);
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('new crossattn and qformer models are local (crossWindow 1); --set crossWindow=0 and older configs are global', () => {
  assert.deepEqual(fusionConfig('crossattn'), { fusion: 'crossattn', crossWindow: 1, crossSelfBias: 2 });
  assert.deepEqual(fusionConfig('qformer'), { fusion: 'qformer', qformerPlace: 'add', crossWindow: 1, crossSelfBias: 2 });
  assert.deepEqual(fusionConfig('add'), { fusion: 'add' });
  const qf = resolveConfig('mar', 'mar_fmnist', fusionConfig('qformer'));
  assert.deepEqual([qf.qformerPlace, qf.qformerQueries, qf.crossWindow], ['add', 0, 1]); // 0: one query per cell
  assert.equal(resolveConfig('mar', 'mar_fmnist', { fusion: 'qformer' }).qformerPlace, 'buffer'); // older configs
  assert.throws(() => fusionConfig('concat'), /unknown fusion 'concat'/);
  // train stage2 --fusion crossattn [--set crossWindow=0]: the variant first, then the user's --set
  assert.equal(resolveConfig('mar', 'mar_fmnist', fusionConfig('crossattn')).crossWindow, 1);
  const global = resolveConfig('mar', 'mar_fmnist', { ...fusionConfig('crossattn'), crossWindow: 0, crossSelfBias: 0 });
  assert.deepEqual([global.crossWindow, global.crossSelfBias], [0, 0]);
  assert.throws(
    () => resolveConfig('mar', 'mar_fmnist', { ...fusionConfig('crossattn'), crossWindow: 0 }),
    /crossSelfBias needs local attention \(crossWindow > 0\); with crossWindow=0 set crossSelfBias=0 too/,
  );
  // a checkpoint's config.json from before the field: global attention, as it was trained
  assert.equal(resolveConfig('mar', 'mar_fmnist', { fusion: 'crossattn' }).crossWindow, 0);
});
