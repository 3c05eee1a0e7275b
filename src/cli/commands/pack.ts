// `d2c pack`: assembles a D2C model folder from four trained checkpoints — vq/, kl/, stage1/,
// stage2/ (config.json + EMA weights, optionally float16), d2c.json (classes, sampling defaults)
// and a model card written from the checkpoints' recipes and training logs. Without --vq and
// --stage1 it packs a MAR-only folder (stage 2 with fusion 'none'), whose sampling skips stage 1.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { fsyncDir, writeFileAtomic } from '../../io/atomic_file.ts';
import { readJsonLines } from '../../io/json_file.ts';
import { readCacheMeta } from '../../pipeline/cache.ts';
import { type D2CModelInfo, PART_DIRS } from '../../pipeline/d2c.ts';
import { type PartConfig, partShapes, partWeights, readPartConfig } from '../../pipeline/parts.ts';
import { type KLConfig, klDownsample } from '../../tokenizers/kl.ts';
import type { Tensor } from '../../torch/index.ts';
import * as torch from '../../torch/index.ts';
import { UsageError } from '../errors.ts';
import { choiceOption, intOption, numberOption } from '../options.ts';

interface PartSummary {
  dir: string;
  config: PartConfig;
  steps?: number;
  wallS?: number;
  last?: Record<string, number>;
}

function summarize(dir: string, kind: string): PartSummary {
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

/** The part's EMA weights (over its buffers) as one model.safetensors, optionally float16. */
function copyWeights(src: string, dst: string, fp16: boolean): void {
  torch.tidy(() => {
    const out = new Map<string, Tensor>();
    for (const [k, t] of partWeights(src, true)) out.set(k, fp16 && t.dtype === 'float32' ? t.to('float16') : t);
    torch.saveSafetensors(join(dst, 'model.safetensors'), out, {
      source: src,
      weights: 'ema',
      dtype: fp16 ? 'float16' : 'float32',
    });
  });
}

function card(name: string, info: D2CModelInfo, parts: Record<string, PartSummary>, fp16: boolean): string {
  const params = (p: PartSummary) =>
    Object.values(partShapes(p.config.kind, p.config.config)).reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0);
  const rows = Object.entries(parts).map(([k, p]) => {
    const loss = p.last
      ? Object.entries(p.last)
          .filter(([n]) => !['step', 'it_s', 'elapsed_s', 'lr'].includes(n))
          .map(([n, v]) => `${n} ${v}`)
          .join(', ')
      : '';
    const wall = p.wallS !== undefined ? `${(p.wallS / 60).toFixed(1)} min` : '';
    return `| ${k} | ${p.config.kind} | ${p.config.preset} | ${(params(p) / 1e6).toFixed(2)}M | ${p.steps ?? ''} | ${wall} | ${loss} |`;
  });
  const cmds = Object.entries(parts).map(
    ([k, p]) => `# ${k}\n${(p.config.recipe?.command as string) ? `d2c ${p.config.recipe?.command}` : '(command not recorded)'}`,
  );
  const what = parts.stage1
    ? `A D2C model (arXiv 2503.17155) for ${info.imageSize}×${info.imageSize}×${info.channels} images of ${info.classes.length} classes
(${info.classes.join(', ')}), trained with d2c's own commands on 2 CPU cores.

Stage 1, a LlamaGen-style GPT, samples the ${partsGrid(parts.stage1)} grid of VQ codes; stage 2, a MAR transformer with a
diffusion head and fusion \`${parts.stage2.config.config.fusion}\`, samples the KL latents conditioned on the class and those
codes; the KL decoder renders the image.`
    : `A MAR-only model (no stage 1: a MAR transformer with a diffusion head samples the KL latents
conditioned on the class alone) for ${info.imageSize}×${info.imageSize}×${info.channels} images of ${info.classes.length} classes
(${info.classes.join(', ')}), trained with d2c's own commands on 2 CPU cores.`;
  return `# ${name}

${what}

## Parts

| part | kind | preset | parameters | steps | wall time | last logged values |
| --- | --- | --- | --- | --- | --- | --- |
${rows.join('\n')}

Weights are the EMA weights (over each part's buffers)${fp16 ? ', stored as float16; they load as float32' : ', float32'}.

## Sampling defaults (d2c.json)

- stage 1: ${info.stage1 ? JSON.stringify(info.stage1) : 'none (MAR-only)'}
- stage 2: ${JSON.stringify(info.stage2)}

## How it was trained

\`\`\`sh
${cmds.join('\n')}
\`\`\`
`;
}

function partsGrid(stage1: PartSummary): string {
  const n = stage1.config.config.blockSize as number;
  const s = Math.round(Math.sqrt(n));
  return `${s}×${s}`;
}

export interface PackOptions {
  /** With stage1: omitted both for a MAR-only folder. */
  vq?: string;
  kl: string;
  stage1?: string;
  stage2: string;
  cache: string;
  out: string;
  name: string;
  fp16: boolean;
  stage1Cfg: number;
  stage1Temperature: number;
  topK: number;
  topP: number;
  stage2Cfg: number;
  cfgSchedule: 'linear' | 'constant';
  stage2Temperature: number;
  steps: number;
  stage2Clip: number;
  diffusionSteps?: number;
  /** Replace only the pack's entries of `out` (parts, d2c.json, README.md), keeping the others. */
  keepOthers?: boolean;
}

/** Writes the model folder `o.out` (to a temp folder first, then renamed into place). */
export function packModel(o: PackOptions): void {
  if (Boolean(o.vq) !== Boolean(o.stage1))
    throw new UsageError('--vq and --stage1 go together (omit both for a MAR-only folder)');
  const stage2 = summarize(o.stage2, 'mar');
  const fusion = stage2.config.config.fusion;
  if (!o.stage1 && fusion !== 'none')
    throw new UsageError(
      `a MAR-only folder needs a stage 2 with fusion none; ${o.stage2} has fusion ${fusion}: give --vq and --stage1`,
    );
  const parts: Partial<Record<keyof typeof PART_DIRS, PartSummary>> & { kl: PartSummary; stage2: PartSummary } = {
    ...(o.vq ? { vq: summarize(o.vq, 'vq') } : {}),
    kl: summarize(o.kl, 'kl'),
    ...(o.stage1 ? { stage1: summarize(o.stage1, 'gpt') } : {}),
    stage2,
  };
  const meta = readCacheMeta(o.cache);
  const klc = parts.kl.config.config as unknown as KLConfig;
  const info: D2CModelInfo = {
    format: 'd2c-model/1',
    name: o.name,
    classes: meta.classes,
    imageSize: meta.grid * klDownsample(klc),
    channels: klc.inChannels,
    ...(o.stage1 ? { stage1: { cfg: o.stage1Cfg, temperature: o.stage1Temperature, topK: o.topK, topP: o.topP } } : {}),
    stage2: {
      cfg: o.stage2Cfg,
      cfgSchedule: o.cfgSchedule,
      temperature: o.stage2Temperature,
      steps: o.steps,
      clip: o.stage2Clip,
      ...(o.diffusionSteps ? { diffusionSteps: o.diffusionSteps } : {}),
    },
  };
  const tmp = `${o.out}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  for (const [k, sub] of Object.entries(PART_DIRS)) {
    const p = parts[k as keyof typeof PART_DIRS];
    if (!p) continue;
    mkdirSync(join(tmp, sub), { recursive: true });
    writeFileAtomic(join(tmp, sub, 'config.json'), `${JSON.stringify(p.config, null, 2)}\n`);
    copyWeights(p.dir, join(tmp, sub), o.fp16);
  }
  writeFileAtomic(join(tmp, 'd2c.json'), `${JSON.stringify(info, null, 2)}\n`);
  writeFileAtomic(join(tmp, 'README.md'), card(o.name, info, parts, o.fp16));
  if (o.keepOthers) {
    // Only the pack's own entries are replaced: a `d2c fit` model folder also holds runs/.
    mkdirSync(o.out, { recursive: true });
    for (const e of readdirSync(tmp)) {
      rmSync(join(o.out, e), { recursive: true, force: true });
      renameSync(join(tmp, e), join(o.out, e));
    }
    rmSync(tmp, { recursive: true, force: true });
    fsyncDir(o.out);
  } else {
    rmSync(o.out, { recursive: true, force: true });
    renameSync(tmp, o.out);
    fsyncDir(dirname(o.out));
  }
}

export function register(program: Command): void {
  program
    .command('pack')
    .description('assemble a D2C model folder from trained vq, kl, stage1 and stage2 checkpoints (MAR-only: kl and stage2)')
    .option('--vq <dir>', 'VQ tokenizer checkpoint (omit with --stage1 for a MAR-only folder)')
    .requiredOption('--kl <dir>', 'KL tokenizer checkpoint')
    .option('--stage1 <dir>', 'stage-1 GPT checkpoint (omit with --vq for a MAR-only folder)')
    .requiredOption('--stage2 <dir>', 'stage-2 MAR checkpoint')
    .requiredOption('--cache <dir>', 'the token cache the generators were trained on (for the class names)')
    .requiredOption('--out <dir>', 'model folder to write')
    .option('--name <name>', 'model name', 'd2c-fmnist')
    .option('--fp16', 'store weights as float16', false)
    .option('--stage1-cfg <x>', 'default stage-1 guidance', numberOption('--stage1-cfg', { min: 1 }), 2)
    .option('--stage1-temperature <x>', 'default stage-1 temperature', numberOption('--stage1-temperature', { gt: 0 }), 1)
    .option('--top-k <n>', 'default stage-1 top-k', intOption('--top-k', { min: 0 }), 0)
    .option('--top-p <x>', 'default stage-1 top-p', numberOption('--top-p', { gt: 0, max: 1 }), 1)
    .option('--stage2-cfg <x>', 'default stage-2 guidance', numberOption('--stage2-cfg', { min: 1 }), 2)
    .option(
      '--cfg-schedule <s>',
      'default stage-2 guidance schedule',
      choiceOption('--cfg-schedule', ['linear', 'constant'] as const),
      'linear',
    )
    .option('--stage2-temperature <x>', 'default stage-2 temperature', numberOption('--stage2-temperature', { gt: 0 }), 1)
    .option('--steps <n>', 'default stage-2 autoregressive steps', intOption('--steps', { min: 1 }), 8)
    .option(
      '--stage2-clip <x>',
      'default bound on the diffusion head’s x0 (0: off)',
      numberOption('--stage2-clip', { min: 0 }),
      4,
    )
    .option(
      '--diffusion-steps <n>',
      'default steps of the diffusion head’s sampler (default: the stage-2 config’s numSamplingSteps)',
      intOption('--diffusion-steps', { min: 1, max: 1000 }),
    )
    .action((o: PackOptions) => {
      packModel(o);
      process.stderr.write(`model folder written to ${o.out}\n`);
    });
}
