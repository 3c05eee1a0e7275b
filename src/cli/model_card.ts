// The model card (README.md) of a packed model folder. `d2c pack` writes one block of it from the
// checkpoints (what the model is, its parts, its sampling defaults, the commands that started each
// part); everything outside that block is the author's (measured results, the full recipe) and
// survives a re-pack.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonLines } from '../io/json_file.ts';
import type { D2CModelInfo } from '../pipeline/d2c.ts';
import { type PartConfig, partShapes, readPartConfig } from '../pipeline/parts.ts';
import { UsageError } from './errors.ts';
import { writeGeneratedBlock } from './generated_block.ts';

export const CARD_TOOL = 'd2c pack';

export interface PartSummary {
  dir: string;
  config: PartConfig;
  steps?: number;
  wallS?: number;
  last?: Record<string, number>;
}

/** A checkpoint's config and, when it has a training log, its steps, wall time and last logged values. */
export function summarizePart(dir: string, kind: string): PartSummary {
  const config = readPartConfig(dir);
  if (config.kind !== kind) throw new UsageError(`${dir} holds a ${config.kind} checkpoint, expected ${kind}`);
  const log = join(dir, 'log.jsonl');
  if (!existsSync(log)) return { dir, config };
  // A run killed mid-append leaves a torn last line: skipped with a warning.
  const lines = readJsonLines(log, { appendOnly: true }) as Record<string, number>[];
  const last = lines[lines.length - 1] ?? {};
  // A resumed run restarts elapsed_s: sum the segments.
  let wallS = 0;
  let prev = 0;
  for (const l of lines) {
    if (l.elapsed_s < prev) wallS += prev;
    prev = l.elapsed_s;
  }
  return { dir, config, steps: last.step, wallS: wallS + prev, last };
}

export function parameterCount(p: PartConfig): number {
  return Object.values(partShapes(p.kind, p.config)).reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0);
}

/** The card's "Sampling defaults" section: d2c.json's settings, which every sampler uses when given none. */
export function samplingSection(info: D2CModelInfo): string {
  return `## Sampling defaults (d2c.json)

- stage 1: ${info.stage1 ? JSON.stringify(info.stage1) : 'none (MAR-only)'}
- stage 2: ${JSON.stringify(info.stage2)}`;
}

function whatItIs(info: D2CModelInfo, parts: Record<string, PartSummary>): string {
  const images = `${info.imageSize}×${info.imageSize}×${info.channels} images of ${info.classes.length} classes
(${info.classes.join(', ')})`;
  if (!parts.stage1)
    return `A MAR-only model (no stage 1: a MAR transformer with a diffusion head samples the KL latents
conditioned on the class alone) for ${images}, trained with d2c's own commands.`;
  const n = parts.stage1.config.config.blockSize as number;
  const side = Math.round(Math.sqrt(n));
  return `A D2C model (arXiv 2503.17155) for ${images}, trained with d2c's own commands.

Stage 1, a LlamaGen-style GPT, samples the ${side}×${side} grid of VQ codes; stage 2, a MAR transformer with a
diffusion head and fusion \`${parts.stage2.config.config.fusion}\`, samples the KL latents conditioned on the class and those
codes; the KL decoder renders the image.`;
}

/** The block `d2c pack` owns. */
export function packBlock(info: D2CModelInfo, parts: Record<string, PartSummary>, fp16: boolean): string {
  const rows = Object.entries(parts).map(([k, p]) => {
    const logged = p.last
      ? Object.entries(p.last)
          .filter(([n]) => !['step', 'it_s', 'elapsed_s', 'lr'].includes(n))
          .map(([n, v]) => `${n} ${v}`)
          .join(', ')
      : '';
    const wall = p.wallS !== undefined ? `${(p.wallS / 60).toFixed(1)} min` : '';
    return `| ${k} | ${p.config.kind} | ${p.config.preset} | ${(parameterCount(p.config) / 1e6).toFixed(2)}M | ${p.steps ?? ''} | ${wall} | ${logged} |`;
  });
  const cmds = Object.entries(parts).map(([k, p]) => {
    const r = p.config.recipe;
    const line = r?.command ? `d2c ${r.command}` : '(command not recorded)';
    // a stage 2 with a distilled guidance head: the stage 2's command, then the distillation's
    return r?.teacherCommand
      ? `# ${k}\nd2c ${r.teacherCommand}\n# ${k}: its distilled guidance head\n${line}`
      : `# ${k}\n${line}`;
  });
  return `${whatItIs(info, parts)}

## Parts

| part | kind | preset | parameters | steps | wall time | last logged values |
| --- | --- | --- | --- | --- | --- | --- |
${rows.join('\n')}

Weights are the EMA weights (over each part's buffers)${fp16 ? ', stored as float16; they load as float32' : ', float32'}.

${samplingSection(info)}

## Recorded training commands

The command that started each part, as its checkpoint recorded it (\`--resume\` runs are not recorded;
\`d2c\` = \`npm run -s d2c --\`):

\`\`\`sh
${cmds.join('\n')}
\`\`\``;
}

/** The card to write: `existing` (the folder's card, if any) with pack's block replaced, else a new card. */
export function modelCard(existing: string | null, name: string, block: string): string {
  return writeGeneratedBlock(existing ?? `# ${name}\n`, CARD_TOOL, block);
}
