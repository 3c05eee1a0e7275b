// A complete but tiny D2C pipeline for tests: random-weight VQ/KL/GPT/MAR checkpoints small enough
// to run in seconds, a token cache of a synthetic set, and a packed model folder.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { syntheticImageSet } from '../../src/data/synthetic.ts';
import { buildTokenCache } from '../../src/pipeline/cache.ts';
import { buildPart, type PartConfig, type PartKind, resolveConfig } from '../../src/pipeline/parts.ts';
import type { AutoencoderKL } from '../../src/tokenizers/kl.ts';
import type { VQModel } from '../../src/tokenizers/vq.ts';
import * as torch from '../../src/torch/index.ts';
import { saveCheckpoint } from '../../src/train/checkpoint.ts';

export const ROOT = new URL('../..', import.meta.url).pathname;

/** Config overrides that make each part tiny while keeping the 32×32 → 8×8 grid. */
export const TINY: Record<PartKind, { preset: string; overrides: Record<string, unknown> }> = {
  vq: { preset: 'vq_fmnist', overrides: { codebookSize: 64 } },
  kl: { preset: 'kl_fmnist', overrides: {} },
  gpt: { preset: 'gpt_test', overrides: { vocabSize: 64, blockSize: 64, numClasses: 10 } },
  mar: {
    preset: 'mar_fmnist',
    overrides: {
      encoderEmbedDim: 32,
      decoderEmbedDim: 32,
      encoderDepth: 1,
      decoderDepth: 1,
      encoderNumHeads: 2,
      decoderNumHeads: 2,
      discEmbedDim: 32,
      discDepth: 1,
      discNumHeads: 2,
      difflossW: 32,
      difflossD: 1,
      bufferSize: 4,
      codebookSize: 64,
      numSamplingSteps: '5',
      fusion: 'qformer',
    },
  },
};

export function tinyPartConfig(kind: PartKind, overrides: Record<string, unknown> = {}): PartConfig {
  const t = TINY[kind];
  return { kind, preset: t.preset, config: resolveConfig(kind, t.preset, { ...t.overrides, ...overrides }) };
}

/** Writes a random-weight checkpoint folder for `kind` (seeded) and returns its path. */
export function writeTinyPart(dir: string, kind: PartKind, seed = 0, overrides: Record<string, unknown> = {}): string {
  torch.manualSeed(seed);
  const pc = tinyPartConfig(kind, overrides);
  const model = buildPart(kind, pc.config);
  saveCheckpoint(dir, { config: pc as unknown as Record<string, unknown>, model });
  for (const p of model.parameters()) p.dispose();
  return dir;
}

export const tinySet = (count = 32) => syntheticImageSet({ count, seed: 0, size: 32, channels: 1 });

/** vq/, kl/ and a token cache of the synthetic set under `root`. */
export async function tinyCache(root: string, count = 32): Promise<{ vq: string; kl: string; cache: string }> {
  const vq = writeTinyPart(join(root, 'vq'), 'vq', 1);
  const kl = writeTinyPart(join(root, 'kl'), 'kl', 2);
  const { loadPart } = await import('../../src/pipeline/parts.ts');
  const v = loadPart<VQModel>(vq);
  const k = loadPart<AutoencoderKL>(kl);
  const cache = join(root, 'cache');
  await buildTokenCache({
    vq: v.model,
    kl: k.model,
    vqDir: vq,
    klDir: kl,
    set: tinySet(count),
    outDir: cache,
    batchSize: 8,
    shardSize: 16,
  });
  return { vq, kl, cache };
}

/** Runs the CLI in a child process (as a user would). */
export function d2c(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync('npx', ['tsx', 'src/cli/main.ts', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `d2c pack` of the four parts and their cache into `out` (more flags after it). */
export function packArgs(p: { vq: string; kl: string; stage1: string; stage2: string; cache: string }, out: string): string[] {
  return ['pack', '--vq', p.vq, '--kl', p.kl, '--stage1', p.stage1, '--stage2', p.stage2, '--cache', p.cache, '--out', out];
}

/** A packed model folder of random tiny parts (with the cache it names its classes from). */
export async function tinyModel(root: string): Promise<string> {
  const { vq, kl, cache } = await tinyCache(root);
  const s1 = writeTinyPart(join(root, 's1'), 'gpt', 3);
  const s2 = writeTinyPart(join(root, 's2'), 'mar', 4);
  const out = join(root, 'model');
  const r = d2c(...packArgs({ vq, kl, stage1: s1, stage2: s2, cache }, out), '--fp16', '--steps', '2', '--diffusion-steps', '5');
  if (r.code !== 0) throw new Error(`pack failed: ${r.stderr}`);
  return out;
}
