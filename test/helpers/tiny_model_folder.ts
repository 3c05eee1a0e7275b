// A tiny random-weight D2C model folder written in-process (no pack, no token cache): fast enough to
// sample in well under a second, for tests of what runs around sampling (the server's queue).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { D2CModelInfo } from '../../src/pipeline/d2c.ts';
import { writeTinyPart } from './tiny_pipeline.ts';

const CLASSES = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];

/**
 * Writes d2c.json and vq/ kl/ stage1/ stage2/ under `dir`; returns `dir`. `channels` 3 gives a
 * colour model; `classes` its class names (default ten digits' names).
 */
export function tinyModelFolder(dir: string, o: { channels?: 1 | 3; classes?: string[] } = {}): string {
  const channels = o.channels ?? 1;
  const classes = o.classes ?? CLASSES;
  const io = { inChannels: channels, outChannels: channels };
  writeTinyPart(join(dir, 'vq'), 'vq', 1, io);
  writeTinyPart(join(dir, 'kl'), 'kl', 2, io);
  writeTinyPart(join(dir, 'stage1'), 'gpt', 3, { numClasses: classes.length });
  writeTinyPart(join(dir, 'stage2'), 'mar', 4, { fusion: 'add', classNum: classes.length });
  const info: D2CModelInfo = {
    format: 'd2c-model/1',
    name: 'tiny',
    classes,
    imageSize: 32,
    channels,
    stage1: { cfg: 1.5, temperature: 1, topK: 0, topP: 1 },
    stage2: { cfg: 2, cfgSchedule: 'linear', temperature: 1, steps: 4, diffusionSteps: 5 },
  };
  writeFileSync(join(dir, 'd2c.json'), `${JSON.stringify(info, null, 2)}\n`);
  return dir;
}
