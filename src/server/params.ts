// The body of `POST /api/generate`, checked field by field against the loaded model: every error
// names its field and the bad value, so the page can point at the input and the API answers 400.
import { DIFFUSION_SAMPLERS, type DiffusionSampler, HEAD_GUIDANCES, type HeadGuidance } from '../generators/schedules.ts';
import type { GenerateOptions } from '../pipeline/d2c.ts';
import { PRECISION_CHOICES, type PrecisionChoice } from '../torch/precision.ts';
import type { ModelInfo } from './worker_protocol.ts';

/** A bad request field; the server answers 400 `{ error: message, field }`. */
export class ParamError extends Error {
  override readonly name = 'ParamError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** Generous but bounded: beyond these a local request only ties the server up. */
export const LIMITS = { maxImages: 64, maxSeed: 2 ** 32 - 1, maxCfg: 20, maxDiffusionSteps: 1000 } as const;

export const FIELDS = [
  'class',
  'n',
  'seed',
  'stage1Cfg',
  'stage2Cfg',
  'steps',
  'diffusionSteps',
  'finalDiffusionSteps',
  'diffusionSampler',
  'headPrecision',
  'headGuidance',
] as const;

export interface GenerateRequest {
  /** The class of each image. */
  classes: number[];
  n: number;
  seed: number;
  stage1Cfg: number;
  stage2Cfg: number;
  steps: number;
  diffusionSteps: number;
  /** Diffusion steps at the last AR step, annealed from diffusionSteps (DiSA); absent: no annealing. */
  finalDiffusionSteps?: number;
  diffusionSampler: DiffusionSampler;
  /** The diffusion head's compute precision; absent: the model's (d2c.json). */
  headPrecision?: PrecisionChoice;
  /** How the head applies guidance (cfg, or the stage 2's distilled head); absent: the model's. */
  headGuidance?: HeadGuidance;
}

/** A JSON number, or a string holding one (form values arrive as strings). */
function numeric(field: string, v: unknown, what: string): number {
  const x = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : Number.NaN;
  if (!Number.isFinite(x)) throw new ParamError(field, `${field} must be ${what}, got ${JSON.stringify(v)}`);
  return x;
}

function intField(field: string, v: unknown, min: number, max: number): number {
  const what = `an integer in ${min}..${max}`;
  const x = numeric(field, v, what);
  if (!Number.isInteger(x) || x < min || x > max)
    throw new ParamError(field, `${field} must be ${what}, got ${JSON.stringify(v)}`);
  return x;
}

function numberField(field: string, v: unknown, min: number, max: number): number {
  const what = `a number in [${min}, ${max}]`;
  const x = numeric(field, v, what);
  if (x < min || x > max) throw new ParamError(field, `${field} must be ${what}, got ${JSON.stringify(v)}`);
  return x;
}

/** A field whose value must be one of `choices` (a string). */
function choiceField<T extends string>(field: string, v: unknown, choices: readonly T[]): T {
  if (typeof v === 'string' && (choices as readonly string[]).includes(v)) return v as T;
  throw new ParamError(field, `${field} must be one of ${choices.join(', ')}, got ${JSON.stringify(v)}`);
}

/** A class index from an index or a name (case-insensitive), as `d2c sample --class` takes it. */
function classField(v: unknown, classes: string[]): number {
  const byName = typeof v === 'string' ? classes.findIndex((k) => k.toLowerCase() === v.trim().toLowerCase()) : -1;
  if (byName >= 0) return byName;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : Number.NaN;
  if (Number.isInteger(n) && n >= 0 && n < classes.length) return n;
  throw new ParamError(
    'class',
    `class must be 0..${classes.length - 1} or one of: ${classes.join(', ')}; got ${JSON.stringify(v)}`,
  );
}

/** Checks a parsed JSON body; omitted fields take the model's defaults (class: every class in turn). */
export function parseGenerateRequest(body: unknown, info: ModelInfo): GenerateRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new ParamError('body', `the body must be a JSON object with fields ${FIELDS.join(', ')}`);
  const b = body as Record<string, unknown>;
  for (const k of Object.keys(b)) {
    if (!(FIELDS as readonly string[]).includes(k))
      throw new ParamError(k, `unknown field "${k}" (expected some of: ${FIELDS.join(', ')})`);
  }
  const given = (k: (typeof FIELDS)[number]) => b[k] !== undefined && b[k] !== null;
  const n = given('n') ? intField('n', b.n, 1, LIMITS.maxImages) : 8;
  const K = info.classes.length;
  const cls = given('class') ? classField(b.class, info.classes) : undefined;
  return {
    classes: Array.from({ length: n }, (_, i) => cls ?? i % K),
    n,
    seed: given('seed') ? intField('seed', b.seed, 0, LIMITS.maxSeed) : 0,
    stage1Cfg: given('stage1Cfg') ? numberField('stage1Cfg', b.stage1Cfg, 1, LIMITS.maxCfg) : info.defaults.stage1.cfg,
    stage2Cfg: given('stage2Cfg') ? numberField('stage2Cfg', b.stage2Cfg, 1, LIMITS.maxCfg) : info.defaults.stage2.cfg,
    steps: given('steps') ? intField('steps', b.steps, 1, info.maxSteps) : info.defaults.stage2.steps,
    diffusionSteps: given('diffusionSteps')
      ? intField('diffusionSteps', b.diffusionSteps, 1, LIMITS.maxDiffusionSteps)
      : info.defaults.stage2.diffusionSteps,
    finalDiffusionSteps: given('finalDiffusionSteps')
      ? intField('finalDiffusionSteps', b.finalDiffusionSteps, 1, LIMITS.maxDiffusionSteps)
      : info.defaults.stage2.finalDiffusionSteps,
    diffusionSampler: given('diffusionSampler')
      ? choiceField('diffusionSampler', b.diffusionSampler, DIFFUSION_SAMPLERS)
      : (info.defaults.stage2.diffusionSampler ?? 'ancestral'),
    ...(given('headPrecision') ? { headPrecision: choiceField('headPrecision', b.headPrecision, PRECISION_CHOICES) } : {}),
    ...(given('headGuidance') ? { headGuidance: choiceField('headGuidance', b.headGuidance, HEAD_GUIDANCES) } : {}),
  };
}

/** The pipeline's options for a checked request (the model's d2c.json supplies everything else). */
export function toGenerateOptions(r: GenerateRequest): GenerateOptions {
  return {
    classes: r.classes,
    seed: r.seed,
    stage1: { cfg: r.stage1Cfg },
    stage2: {
      cfg: r.stage2Cfg,
      steps: r.steps,
      diffusionSteps: r.diffusionSteps,
      diffusionSampler: r.diffusionSampler,
      ...(r.finalDiffusionSteps === undefined ? {} : { finalDiffusionSteps: r.finalDiffusionSteps }),
      ...(r.headPrecision === undefined ? {} : { headPrecision: r.headPrecision }),
      ...(r.headGuidance === undefined ? {} : { headGuidance: r.headGuidance }),
    },
  };
}
