// `d2c pack`: assembles a D2C model folder from four trained checkpoints — vq/, kl/, stage1/,
// stage2/ (config.json + EMA weights, optionally float16), d2c.json (classes, sampling defaults)
// and the model card, whose block of pack's own (src/cli/model_card.ts) is rewritten and whose
// hand-written rest is kept. Without --vq and --stage1 it packs a MAR-only folder (stage 2 with
// fusion 'none'), whose sampling skips stage 1.
//
// SAMPLING_DEFAULTS is the one source of sampling defaults: what `pack` (and `fit`, through
// packModel) writes to d2c.json when given no settings, and every sampler reads d2c.json.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { DIFFUSION_SAMPLERS, HEAD_GUIDANCES } from '../../generators/schedules.ts';
import { fsyncDir, writeFileAtomic } from '../../io/atomic_file.ts';
import { readCacheMeta } from '../../pipeline/cache.ts';
import { type D2CModelInfo, PART_DIRS, type Stage1Options, type Stage2Options } from '../../pipeline/d2c.ts';
import { partWeights } from '../../pipeline/parts.ts';
import { type KLConfig, klDownsample } from '../../tokenizers/kl.ts';
import type { Tensor } from '../../torch/index.ts';
import * as torch from '../../torch/index.ts';
import { UsageError } from '../errors.ts';
import { modelCard, type PartSummary, packBlock, summarizePart } from '../model_card.ts';
import { choiceOption, intOption, numberOption } from '../options.ts';
import { type SamplingFlags, samplingSettings } from './sample.ts';

/** The stage-2 options pack writes: every one, so a d2c.json says how its model samples. */
type PackedStage2 = Required<Stage2Options>;

/** The settings models/d2c-fmnist's card recommends (chosen by the measurements there). */
export const SAMPLING_DEFAULTS: { stage1: Stage1Options; stage2: PackedStage2 } = {
  stage1: { cfg: 1.5, temperature: 1, topK: 0, topP: 1 },
  stage2: {
    cfg: 3,
    cfgSchedule: 'linear',
    temperature: 1,
    steps: 4,
    clip: 4,
    diffusionSteps: 25,
    // DiSA: 25 diffusion steps at the first AR step, annealed to 5 at the last (docs/study, "Stage 2's speed")
    finalDiffusionSteps: 5,
    diffusionSampler: 'ancestral',
    // the head in bf16 where the CPU has bf16 matrix instructions: the same FID/KID, 25–30 % less time
    headPrecision: 'auto',
    // packedSettings: 'distilled' instead where the stage 2 has a distilled head
    headGuidance: 'cfg',
  },
};

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

/** Sampling settings for d2c.json; each one not given is SAMPLING_DEFAULTS'. */
export interface PackOptions extends SamplingFlags {
  /** With stage1: omitted both for a MAR-only folder. */
  vq?: string;
  kl: string;
  stage1?: string;
  stage2: string;
  cache: string;
  out: string;
  name: string;
  fp16: boolean;
  /** Replace only the pack's entries of `out` (parts, d2c.json, README.md), keeping the others. */
  keepOthers?: boolean;
}

/**
 * The settings d2c.json records: the given flags over SAMPLING_DEFAULTS; a stage 2 with a distilled
 * head samples with it unless --head-guidance says otherwise.
 */
function packedSettings(o: PackOptions, distilledHead: boolean): { stage1: Stage1Options; stage2: Stage2Options } {
  const given = samplingSettings(o);
  if (given.stage2.headGuidance === 'distilled' && !distilledHead)
    throw new UsageError(
      `--head-guidance distilled: ${o.stage2} has no distilled head (train one with \`d2c train guided-head\`)`,
    );
  return {
    stage1: { ...SAMPLING_DEFAULTS.stage1, ...given.stage1 },
    stage2: { ...SAMPLING_DEFAULTS.stage2, ...(distilledHead ? { headGuidance: 'distilled' } : {}), ...given.stage2 },
  };
}

/** The folder's card with pack's block rewritten (checked before anything is written). */
function cardFor(out: string, name: string, block: string): string {
  const path = join(out, 'README.md');
  const existing = existsSync(path) ? readFileSync(path, 'utf8') : null;
  try {
    return modelCard(existing, name, block);
  } catch (e) {
    throw new UsageError(`${path}: ${(e as Error).message}`);
  }
}

/** Writes the model folder `o.out` (to a temp folder first, then renamed into place). */
export function packModel(o: PackOptions): void {
  if (Boolean(o.vq) !== Boolean(o.stage1))
    throw new UsageError('--vq and --stage1 go together (omit both for a MAR-only folder)');
  const stage2 = summarizePart(o.stage2, 'mar');
  const fusion = stage2.config.config.fusion;
  if (!o.stage1 && fusion !== 'none')
    throw new UsageError(
      `a MAR-only folder needs a stage 2 with fusion none; ${o.stage2} has fusion ${fusion}: give --vq and --stage1`,
    );
  const parts: Partial<Record<keyof typeof PART_DIRS, PartSummary>> & { kl: PartSummary; stage2: PartSummary } = {
    ...(o.vq ? { vq: summarizePart(o.vq, 'vq') } : {}),
    kl: summarizePart(o.kl, 'kl'),
    ...(o.stage1 ? { stage1: summarizePart(o.stage1, 'gpt') } : {}),
    stage2,
  };
  const meta = readCacheMeta(o.cache);
  const klc = parts.kl.config.config as unknown as KLConfig;
  const settings = packedSettings(o, stage2.config.config.guidedHead === true);
  const info: D2CModelInfo = {
    format: 'd2c-model/1',
    name: o.name,
    classes: meta.classes,
    imageSize: meta.grid * klDownsample(klc),
    channels: klc.inChannels,
    ...(o.stage1 ? { stage1: settings.stage1 } : {}),
    stage2: settings.stage2,
  };
  const card = cardFor(o.out, o.name, packBlock(info, parts, o.fp16));
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
  writeFileAtomic(join(tmp, 'README.md'), card);
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
  const [S1, S2] = [SAMPLING_DEFAULTS.stage1, SAMPLING_DEFAULTS.stage2];
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
    .option('--stage1-cfg <x>', 'default stage-1 guidance', numberOption('--stage1-cfg', { min: 1 }), S1.cfg)
    .option(
      '--stage1-temperature <x>',
      'default stage-1 temperature',
      numberOption('--stage1-temperature', { gt: 0 }),
      S1.temperature,
    )
    .option('--top-k <n>', 'default stage-1 top-k (0: off)', intOption('--top-k', { min: 0 }), S1.topK)
    .option('--top-p <x>', 'default stage-1 top-p', numberOption('--top-p', { gt: 0, max: 1 }), S1.topP)
    .option('--stage2-cfg <x>', 'default stage-2 guidance', numberOption('--stage2-cfg', { min: 1 }), S2.cfg)
    .option(
      '--cfg-schedule <s>',
      'default stage-2 guidance schedule',
      choiceOption('--cfg-schedule', ['linear', 'constant'] as const),
      S2.cfgSchedule,
    )
    .option(
      '--stage2-temperature <x>',
      'default stage-2 temperature',
      numberOption('--stage2-temperature', { gt: 0 }),
      S2.temperature,
    )
    .option('--steps <n>', 'default stage-2 autoregressive steps', intOption('--steps', { min: 1 }), S2.steps)
    .option(
      '--stage2-clip <x>',
      'default bound on the diffusion head’s x0 (0: off)',
      numberOption('--stage2-clip', { min: 0 }),
      S2.clip,
    )
    .option(
      '--diffusion-steps <n>',
      'default steps of the diffusion head’s sampler',
      intOption('--diffusion-steps', { min: 1, max: 1000 }),
      S2.diffusionSteps,
    )
    .option(
      '--final-diffusion-steps <n>',
      'default diffusion steps at the last stage-2 step, annealed from --diffusion-steps (DiSA)',
      intOption('--final-diffusion-steps', { min: 1, max: 1000 }),
      S2.finalDiffusionSteps,
    )
    .option(
      '--diffusion-sampler <s>',
      'default sampler of the diffusion head',
      choiceOption('--diffusion-sampler', DIFFUSION_SAMPLERS),
      S2.diffusionSampler,
    )
    .option(
      '--head-precision <p>',
      'default compute precision of the diffusion head: fp32, bf16 or auto (bf16 where the CPU has bf16 matrix instructions)',
      choiceOption('--head-precision', torch.PRECISION_CHOICES),
      S2.headPrecision,
    )
    .option(
      '--head-guidance <g>',
      "default guidance of the diffusion head: cfg, or distilled (the stage 2's distilled head; the default when it has one)",
      choiceOption('--head-guidance', HEAD_GUIDANCES),
    )
    .action((o: PackOptions) => {
      packModel(o);
      process.stderr.write(`model folder written to ${o.out}\n`);
    });
}
