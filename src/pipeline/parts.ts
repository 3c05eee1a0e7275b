// The four kinds of model part (vq, kl, gpt, mar): building one from a preset or a saved config,
// and loading a part folder (`config.json` + `ema.safetensors` / `model.safetensors`).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { GPT, type GPTConfig, type GPTPreset, gptConfig, gptStateShapes } from '../generators/gpt.ts';
import { MAR, type MARConfig, marConfig } from '../generators/mar.ts';
import { readJsonFile } from '../io/json_file.ts';
import type { Module } from '../nn/module.ts';
import { AutoencoderKL, type KLConfig } from '../tokenizers/kl.ts';
import { klConfig, vqConfig } from '../tokenizers/presets.ts';
import { type VQConfig, VQModel } from '../tokenizers/vq.ts';
import type { DType, Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';

export type PartKind = 'vq' | 'kl' | 'gpt' | 'mar';
export const PART_KINDS: PartKind[] = ['vq', 'kl', 'gpt', 'mar'];

/** What config.json of a part holds. */
export interface PartConfig {
  kind: PartKind;
  preset: string;
  config: Record<string, unknown>;
  /** How it was trained (command, steps, …), for the model card. */
  recipe?: Record<string, unknown>;
}

interface KindSpec {
  config(preset: string, overrides: Record<string, unknown>): Record<string, unknown>;
  build(config: Record<string, unknown>): Module;
  /** `{name: shape}` of the state dict without allocating the weights. */
  shapes(config: Record<string, unknown>): Record<string, number[]>;
}

function metaShapes(m: Module): Record<string, number[]> {
  return Object.fromEntries([...m.stateDict()].map(([k, t]) => [k, t.shape]));
}

const KINDS: Record<PartKind, KindSpec> = {
  vq: {
    config: (p, o) => vqConfig(p, o as Partial<VQConfig>) as unknown as Record<string, unknown>,
    build: (c) => new VQModel(c as unknown as VQConfig),
    shapes: (c) => metaShapes(new VQModel(c as unknown as VQConfig, { device: 'meta' })),
  },
  kl: {
    config: (p, o) => klConfig(p, o as Partial<KLConfig>) as unknown as Record<string, unknown>,
    build: (c) => new AutoencoderKL(c as unknown as KLConfig),
    shapes: (c) => metaShapes(new AutoencoderKL(c as unknown as KLConfig, { device: 'meta' })),
  },
  gpt: {
    config: (p, o) => gptConfig(p as GPTPreset, o as Partial<GPTConfig>) as unknown as Record<string, unknown>,
    build: (c) => new GPT(c as unknown as GPTConfig),
    shapes: (c) => gptStateShapes(c as unknown as GPTConfig),
  },
  mar: {
    config: (p, o) => marConfig(p, o as Partial<MARConfig>) as unknown as Record<string, unknown>,
    build: (c) => new MAR(c as unknown as MARConfig),
    shapes: (c) => metaShapes(new MAR(c as unknown as MARConfig, { device: 'meta' })),
  },
};

export function kindSpec(kind: string): KindSpec {
  const k = KINDS[kind as PartKind];
  if (!k) throw new Error(`unknown model kind '${kind}' (expected one of ${PART_KINDS.join(', ')})`);
  return k;
}

/** The full config of a preset with overrides (throws on unknown names). */
export function resolveConfig(kind: PartKind, preset: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return kindSpec(kind).config(preset, overrides);
}

export function buildPart(kind: PartKind, config: Record<string, unknown>): Module {
  return kindSpec(kind).build(config);
}

/** `{name: shape}` of a part's state dict (no weights allocated). */
export function partShapes(kind: PartKind, config: Record<string, unknown>): Record<string, number[]> {
  return kindSpec(kind).shapes(config);
}

export function readPartConfig(dir: string): PartConfig {
  const path = join(dir, 'config.json');
  if (!existsSync(path)) throw new Error(`${dir} is not a d2c model part: it has no config.json`);
  const pc = readJsonFile(path) as PartConfig;
  if (!pc || !PART_KINDS.includes(pc.kind) || typeof pc.config !== 'object') {
    throw new Error(`${path}: expected {kind: ${PART_KINDS.join('|')}, preset, config}, got kind ${JSON.stringify(pc?.kind)}`);
  }
  return pc;
}

export interface LoadOptions {
  device?: string;
  dtype?: DType;
  /** Prefer ema.safetensors when present (default true: EMA weights are the ones to sample with). */
  ema?: boolean;
}

/**
 * A part's weights by name: model.safetensors (parameters and buffers), with the EMA parameters
 * of ema.safetensors laid over it when present and wanted (the EMA holds parameters only).
 */
export function partWeights(dir: string, preferEma = true): Map<string, Tensor> {
  const emaPath = join(dir, 'ema.safetensors');
  const modelPath = join(dir, 'model.safetensors');
  const useEma = preferEma && existsSync(emaPath);
  if (!existsSync(modelPath) && !useEma) throw new Error(`${dir} is not a d2c model part: it has no model.safetensors`);
  const sd = existsSync(modelPath) ? torch.loadSafetensors(modelPath) : new Map<string, Tensor>();
  if (useEma) {
    for (const [k, t] of torch.loadSafetensors(emaPath)) {
      sd.get(k)?.dispose();
      sd.set(k, t);
    }
  }
  return sd;
}

/** Loads a part folder: builds the module from config.json and loads its weights strictly. */
export function loadPart<M extends Module = Module>(dir: string, o: LoadOptions = {}): { model: M; config: PartConfig } {
  const saved = readPartConfig(dir);
  // The saved config applies over its preset: d2c saves full configs, the converter of public
  // checkpoints only the fields it could read off the weights.
  const pc = { ...saved, config: resolveConfig(saved.kind, saved.preset, saved.config) };
  const model = buildPart(pc.kind, pc.config) as M;
  torch.tidy(() => {
    const sd = partWeights(dir, o.ema ?? true);
    try {
      model.loadStateDict(sd);
    } catch (e) {
      throw new Error(`${dir}: ${(e as Error).message}`);
    }
  });
  if (o.dtype) model.to(o.dtype);
  if (o.device && o.device !== 'cpu') model.to(o.device);
  model.eval();
  return { model, config: pc };
}

/** The kind whose preset table holds `preset`. */
export function kindOfPreset(preset: string): PartKind {
  for (const kind of PART_KINDS) {
    try {
      kindSpec(kind).config(preset, {});
      return kind;
    } catch {
      // not this kind's preset
    }
  }
  throw new Error(`unknown preset '${preset}'`);
}
