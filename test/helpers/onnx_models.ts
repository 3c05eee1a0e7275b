// Tiny model folders for the ONNX export tests: every part random (seeded) with every weight
// perturbed, so no zero-initialised layer (GPT head, AdaLN-zero) hides a wrong graph, for a given
// fusion and KL latent channel count, or MAR-only (no stage1/ and vq/). Written straight as part
// folders + d2c.json (no cache, no pack).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Fusion } from '../../src/generators/fusion.ts';
import { buildPart, type PartKind, resolveConfig } from '../../src/pipeline/parts.ts';
import * as torch from '../../src/torch/index.ts';
import { saveCheckpoint } from '../../src/train/checkpoint.ts';
import { TINY } from './tiny_pipeline.ts';

export function writeTinyOnnxModel(
  dir: string,
  fusion: Fusion,
  latentChannels = 4,
  marOnly = false,
  marExtra: Record<string, unknown> = {},
): string {
  mkdirSync(dir, { recursive: true });
  const overrides: Record<PartKind, Record<string, unknown>> = {
    vq: TINY.vq.overrides,
    kl: { ...TINY.kl.overrides, embedDim: latentChannels },
    gpt: TINY.gpt.overrides,
    mar: { ...TINY.mar.overrides, fusion, vaeEmbedDim: latentChannels, ...marExtra },
  };
  const parts: [PartKind, string][] = [
    ['vq', 'vq'],
    ['kl', 'kl'],
    ['gpt', 'stage1'],
    ['mar', 'stage2'],
  ];
  parts.forEach(([kind, sub], i) => {
    if (marOnly && (kind === 'vq' || kind === 'gpt')) return;
    torch.manualSeed(100 + i);
    const config = resolveConfig(kind, TINY[kind].preset, overrides[kind]);
    const model = buildPart(kind, config);
    const g = new torch.Generator(200 + i);
    torch.noGrad(() => {
      for (const p of model.parameters()) p.add_(torch.randn(p.shape, { generator: g }).mul(0.05));
    });
    saveCheckpoint(join(dir, sub), { config: { kind, preset: TINY[kind].preset, config }, model });
  });
  const info = {
    format: 'd2c-model/1',
    name: `tiny-${fusion}`,
    classes: Array.from({ length: 10 }, (_, i) => `class${i}`),
    imageSize: 32,
    channels: 1,
    ...(marOnly ? {} : { stage1: { cfg: 2, temperature: 1, topK: 0, topP: 1 } }),
    stage2: { cfg: 3, cfgSchedule: 'linear', temperature: 1, steps: 4, clip: 4 },
  };
  writeFileSync(join(dir, 'd2c.json'), `${JSON.stringify(info, null, 2)}\n`);
  return dir;
}
