// `d2c dry-run` at reduced size: the colour presets (32 px, an 8×8 grid) in place of the official
// 256-px parts, batch 2: every phase runs in its own process through the real tasks and reports
// parameters, peak memory, wall and CPU seconds and FLOPs per step, as a table and one JSON line;
// the sample, at fewer steps than MAR's, also gets its FLOPs at 64 × 100 estimated.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PhaseResult } from '../src/cli/dry_run_phases.ts';
import { buildPart, resolveConfig } from '../src/pipeline/parts.ts';
import { d2c } from './helpers/tiny_pipeline.ts';

const params = (kind: 'gpt' | 'mar', preset: string, o: Record<string, unknown>) =>
  buildPart(kind, resolveConfig(kind, preset, o))
    .parameters()
    .reduce((a, p) => a + p.numel, 0);

test('dry-run at 32 px: six phases, each with parameters, peak RSS, s/step and FLOPs/step', () => {
  const r = d2c('dry-run', '--presets', 'vq_c32,kl_c32,gpt_c32,mar_c32', '--batch', '2', '--threads', '1');
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stderr,
    /dry-run on cpu \(fp32, 1 threads\): vq_c32, kl_c32, gpt_c32, mar_c32, fusion add; reduced for the CPU: sample 4 AR × 10 diffusion steps/,
  );
  const lines = r.stdout.trim().split('\n');
  const out = JSON.parse(lines[lines.length - 1]) as { phases: PhaseResult[]; dryRun: { batch: number; reduced: string[] } };
  assert.deepEqual(
    out.phases.map((p) => p.phase),
    ['vq', 'kl', 'cache', 'stage1', 'stage2', 'sample'],
  );
  assert.equal(lines.length, 1 + 6 + 1 + 1, 'a header, six rows, the sample at 64 × 100, the JSON line');
  assert.match(lines[7], /^sample at MAR's 64 AR × 100 diffusion steps: [\d.]+ G FLOPs \(estimated from its parts\)$/);
  for (const p of out.phases) {
    assert.ok(p.params > 0 && p.seconds > 0 && p.cpuSeconds > 0 && p.flops > 0 && p.peakRssMiB > 50, JSON.stringify(p));
  }
  const byPhase = Object.fromEntries(out.phases.map((p) => [p.phase, p]));
  // the trained models are the presets (the code book, latent channels and classes follow the cache)
  const { codebookSize } = resolveConfig('vq', 'vq_c32') as { codebookSize: number };
  const { embedDim } = resolveConfig('kl', 'kl_c32') as { embedDim: number };
  assert.equal(byPhase.stage1.params, params('gpt', 'gpt_c32', { vocabSize: codebookSize }));
  const mar = { fusion: 'add', codebookSize, vaeEmbedDim: embedDim, classNum: 10 };
  assert.equal(byPhase.stage2.params, params('mar', 'mar_c32', mar));
  // a GPT step does at least 3 × 2 multiply-adds per weight of its blocks per token (64 tokens × 2
  // images); left out: the code and class embeddings (10 classes + the null class, width 256)
  const blocks = params('gpt', 'gpt_c32', { vocabSize: codebookSize }) - codebookSize * 256 - 11 * 256;
  assert.ok(byPhase.stage1.flops >= 3 * 2 * blocks * 64 * 2, `stage1 FLOPs ${byPhase.stage1.flops}`);
  assert.equal(byPhase.sample.batch, 1);
  // 16 × 10 times the AR × diffusion steps: the estimate grows by several times, not 160
  const grown = (byPhase.sample.officialFlops ?? 0) / byPhase.sample.flops;
  assert.ok(grown > 3 && grown < 160, `the sample's estimate at 64 × 100 is ${grown}× the 4 × 10 sample`);
});

test('dry-run: a bad --presets is one line', () => {
  const r = d2c('dry-run', '--presets', 'vq16,kl16', '--threads', '1');
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /^d2c: --presets must be four presets VQ,KL,GPT,MAR \(e\.g\. vq16,kl16,gpt_b,mar_base\), got "vq16,kl16"\n$/,
  );
});
