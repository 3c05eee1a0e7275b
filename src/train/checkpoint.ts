// Checkpoint folders (DESIGN.md "Models: names, presets, configs"):
//   config.json            model kind, preset, full config, training recipe (the caller's object)
//   model.safetensors      the model's state dict, PyTorch names
//   ema.safetensors        EMA weights, same names (optional)
//   optimizer.safetensors  AdamW state `state.<i>.{step,exp_avg,exp_avg_sq}`, groups in metadata
//   trainer.json           step, epoch, data position, RNG states (global CPU generator + named ones)
//   discriminator.safetensors  a network trained beside the model (the tokenizers' PatchGAN), optional:
//                          its state dict as `model.<name>`, its AdamW state as `optimizer.state.<i>.…`
// A save writes a complete folder next to the old one and swaps it in with renames, so an
// interrupted save never leaves a half-written checkpoint where the last good one was. The files a
// run keeps beside its checkpoint (log.jsonl, sample grids) stay in the old folder until the new
// one is in place, then move over; a reader finishes a swap that a killed process left half done.

import { existsSync, mkdirSync, readdirSync, renameSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fsyncDir, writeFileAtomic } from '../io/atomic_file.ts';
import { readJsonFile } from '../io/json_file.ts';
import type { StateDict } from '../nn/module.ts';
import { Module } from '../nn/module.ts';
import type { AdamW, OptimizerState } from '../optim/adamw.ts';
import { EMA } from '../optim/ema.ts';
import type { Generator, Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';

export const DISCRIMINATOR_FILE = 'discriminator.safetensors';

export const CHECKPOINT_FILES = [
  'config.json',
  'model.safetensors',
  'ema.safetensors',
  'optimizer.safetensors',
  'trainer.json',
  DISCRIMINATOR_FILE,
];

/** A network trained beside the model with its own optimizer (the tokenizers' PatchGAN discriminator). */
export interface Discriminator {
  model: Module;
  optimizer: AdamW;
}

export interface TrainerProgress {
  step: number;
  epoch: number;
  /** The data loader's position (JSON-serialisable), restored as is. */
  data?: unknown;
  /** Anything else the trainer wants back (JSON-serialisable). */
  extra?: Record<string, unknown>;
}

export interface SaveCheckpointArgs {
  config: Record<string, unknown>;
  model: Module | StateDict;
  ema?: EMA | StateDict;
  optimizer?: AdamW;
  discriminator?: Discriminator;
  trainer?: TrainerProgress & { generators?: Record<string, Generator> };
}

export interface LoadCheckpointArgs {
  model?: Module;
  ema?: EMA;
  optimizer?: AdamW;
  discriminator?: Discriminator;
  /** Explicit generators to restore, by the names they were saved under. */
  generators?: Record<string, Generator>;
  /** Restore the global CPU generator's state (default true when trainer.json is read). */
  restoreGlobalRng?: boolean;
}

interface TrainerJson extends TrainerProgress {
  format: 'd2c-trainer/1';
  rng: { cpu: string; cuda?: string; generators: Record<string, string> };
}

/** Writes a checkpoint folder at `dir`, replacing any previous one atomically. */
export function saveCheckpoint(dir: string, a: SaveCheckpointArgs): void {
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  // A save killed before its swap left its whole temp folder: a checkpoint's size each time.
  for (const [stale] of leftovers(dir, 'tmp')) rmSync(stale, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    writeFileAtomic(join(tmp, 'config.json'), `${JSON.stringify(a.config, null, 2)}\n`);
    saveTensors(join(tmp, 'model.safetensors'), a.model instanceof Module ? a.model.stateDict() : a.model);
    if (a.ema) saveTensors(join(tmp, 'ema.safetensors'), a.ema instanceof EMA ? a.ema.stateDict() : a.ema);
    if (a.optimizer) saveOptimizer(join(tmp, 'optimizer.safetensors'), a.optimizer.stateDict());
    if (a.discriminator) saveDiscriminator(join(tmp, DISCRIMINATOR_FILE), a.discriminator);
    if (a.trainer) writeFileAtomic(join(tmp, 'trainer.json'), `${JSON.stringify(trainerJson(a.trainer), null, 2)}\n`);
    swapIn(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/**
 * Reads a checkpoint folder into the given objects; returns its config and trainer progress.
 * Every file is checked (present, complete, names and shapes) before anything is changed.
 */
export function loadCheckpoint(
  dir: string,
  a: LoadCheckpointArgs = {},
): { config: Record<string, unknown>; trainer: TrainerProgress | null } {
  const root = resolveCheckpointDir(dir);
  const config = readJson(root, 'config.json') as Record<string, unknown>;
  const need = (f: string) => {
    if (!existsSync(join(root, f))) throw new Error(`checkpoint ${root}: ${f} is missing`);
  };
  const trainer = a.optimizer || a.generators || existsSync(join(root, 'trainer.json')) ? readTrainer(root) : null;
  if (a.model) need('model.safetensors');
  if (a.ema) need('ema.safetensors');
  if (a.optimizer) need('optimizer.safetensors');
  if (a.discriminator) need(DISCRIMINATOR_FILE);

  torch.tidy(() => {
    const model = a.model ? loadTensors(root, 'model.safetensors') : null;
    const ema = a.ema ? loadTensors(root, 'ema.safetensors') : null;
    const opt = a.optimizer ? loadOptimizer(root) : null;
    const disc = a.discriminator ? loadDiscriminator(root) : null;
    const gens = a.generators ? generatorStates(root, trainer as TrainerJson, a.generators) : null;
    // Check everything before the first copy, so a bad file leaves the objects untouched.
    const problems = [
      ...(a.model ? stateDictProblems(a.model.stateDict(), model as StateDict).map((p) => `model.safetensors: ${p}`) : []),
      ...(a.ema ? stateDictProblems(a.ema.stateDict(), ema as StateDict).map((p) => `ema.safetensors: ${p}`) : []),
      ...(a.optimizer ? a.optimizer.stateDictProblems(opt as OptimizerState).map((p) => `optimizer.safetensors: ${p}`) : []),
      ...(a.discriminator ? discriminatorProblems(a.discriminator, disc as DiscriminatorState) : []),
    ];
    if (problems.length > 0) {
      throw new Error(`checkpoint ${root}: ${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
    }
    at(root, 'model.safetensors', () => a.model?.loadStateDict(model as StateDict, true));
    at(root, 'ema.safetensors', () => a.ema?.loadStateDict(ema as StateDict));
    at(root, 'optimizer.safetensors', () => a.optimizer?.loadStateDict(opt as OptimizerState));
    at(root, DISCRIMINATOR_FILE, () => {
      if (!a.discriminator || !disc) return;
      a.discriminator.model.loadStateDict(disc.model, true);
      a.discriminator.optimizer.loadStateDict(disc.optimizer);
    });
    if (trainer && (a.restoreGlobalRng ?? true)) {
      torch.setRngState(fromBase64(trainer.rng.cpu));
      if (trainer.rng.cuda && torch.cudaIsAvailable()) torch.setRngState(fromBase64(trainer.rng.cuda), 'cuda');
    }
    if (gens) for (const [name, st] of gens) a.generators?.[name].setState(st);
  });
  return {
    config,
    trainer: trainer ? { step: trainer.step, epoch: trainer.epoch, data: trainer.data, extra: trainer.extra } : null,
  };
}

/** config.json alone (e.g. to build the model before loading its weights). */
export function readCheckpointConfig(dir: string): Record<string, unknown> {
  return readJson(resolveCheckpointDir(dir), 'config.json') as Record<string, unknown>;
}

/**
 * The folder to read, `dir`, after finishing a swap that a killed save left half done: killed
 * between its two renames, the previous checkpoint (parked as `dir.old-<pid>`) is moved back; killed
 * after them, the run's files still in the parked folder move into the new one.
 */
export function resolveCheckpointDir(dir: string): string {
  const parked = leftovers(dir, 'old').map(([p]) => p);
  if (parked.length === 0) {
    if (existsSync(dir)) return dir;
    throw new Error(`checkpoint ${dir}: no such folder`);
  }
  if (existsSync(join(dir, 'config.json'))) {
    for (const p of parked) carryOver(p, dir);
    return dir;
  }
  if (parked.length > 1)
    throw new Error(`checkpoint ${dir}: no checkpoint, and ${parked.length} parked ones: ${parked.join(', ')}`);
  // `dir` is absent, or empty: a run about to resume creates its folder first.
  if (existsSync(dir)) rmdirSync(dir);
  renameSync(parked[0], dir);
  fsyncDir(dirname(dir));
  return dir;
}

/** `dir.<kind>-<pid>` folders beside `dir` whose process is gone (a live one may be mid-save). */
function leftovers(dir: string, kind: 'tmp' | 'old'): [string, number][] {
  const parent = dirname(dir);
  if (!existsSync(parent)) return [];
  const prefix = `${basename(dir)}.${kind}-`;
  return readdirSync(parent)
    .filter((n) => n.startsWith(prefix) && /^\d+$/.test(n.slice(prefix.length)))
    .map((n): [string, number] => [join(parent, n), Number(n.slice(prefix.length))])
    .filter(([, pid]) => !processAlive(pid));
}

/** Whether another process with this id runs (this one's own saves are synchronous, never half done). */
function processAlive(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// ---- writing --------------------------------------------------------------------------------

/** CPU, contiguous copies, as safetensors needs them. */
function saveTensors(path: string, sd: StateDict, metadata?: Record<string, string>): void {
  torch.tidy(() => {
    const cpu = new Map<string, Tensor>();
    for (const [k, t] of sd) cpu.set(k, t.detach().to('cpu').contiguous());
    torch.saveSafetensors(path, cpu, metadata);
  });
}

function saveOptimizer(path: string, st: OptimizerState): void {
  try {
    saveTensors(path, st.tensors, { format: 'd2c-adamw/1', param_groups: JSON.stringify(st.groups) });
  } finally {
    torch.dispose([...st.tensors.values()]);
  }
}

/** One file for weights and optimizer state, so the two cannot come from different saves. */
function saveDiscriminator(path: string, d: Discriminator): void {
  const st = d.optimizer.stateDict();
  try {
    const tensors = new Map<string, Tensor>();
    for (const [k, t] of d.model.stateDict()) tensors.set(`model.${k}`, t);
    for (const [k, t] of st.tensors) tensors.set(`optimizer.${k}`, t);
    saveTensors(path, tensors, { format: 'd2c-discriminator/1', param_groups: JSON.stringify(st.groups) });
  } finally {
    torch.dispose([...st.tensors.values()]);
  }
}

function trainerJson(t: NonNullable<SaveCheckpointArgs['trainer']>): TrainerJson {
  const gens: Record<string, string> = {};
  for (const [name, g] of Object.entries(t.generators ?? {})) gens[name] = stateBase64(g.getState());
  return {
    format: 'd2c-trainer/1',
    step: t.step,
    epoch: t.epoch,
    data: t.data,
    extra: t.extra,
    rng: {
      cpu: stateBase64(torch.getRngState()),
      ...(torch.cudaIsAvailable() ? { cuda: stateBase64(torch.getRngState('cuda')) } : {}),
      generators: gens,
    },
  };
}

/**
 * Moves the finished temp folder to `dir`: the old folder is parked, the new one renamed in, then
 * the files of the old one that are not checkpoint files (the log, sample grids written next to
 * it) are carried over and the parked folder removed. A kill at any point leaves a folder that
 * resolveCheckpointDir completes, the run's files in one of the two.
 */
function swapIn(tmp: string, dir: string): void {
  fsyncDir(tmp);
  if (!existsSync(dir)) {
    mkdirSync(dirname(dir), { recursive: true });
    renameSync(tmp, dir);
    fsyncDir(dirname(dir));
    return;
  }
  if (!statSync(dir).isDirectory()) throw new Error(`checkpoint ${dir}: exists and is not a folder`);
  const parked = `${dir}.old-${process.pid}`;
  rmSync(parked, { recursive: true, force: true });
  renameSync(dir, parked);
  renameSync(tmp, dir);
  fsyncDir(dirname(dir));
  carryOver(parked, dir);
}

/** Moves the parked folder's files that are not checkpoint files into `dir`, then removes it. */
function carryOver(parked: string, dir: string): void {
  const ours = new Set(CHECKPOINT_FILES);
  for (const name of readdirSync(parked)) {
    if (!ours.has(name) && !existsSync(join(dir, name))) renameSync(join(parked, name), join(dir, name));
  }
  fsyncDir(dir);
  rmSync(parked, { recursive: true, force: true });
}

// ---- reading --------------------------------------------------------------------------------

function at<T>(root: string, file: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw new Error(`checkpoint ${root}: ${file}: ${(e as Error).message}`);
  }
}

function readJson(root: string, file: string): unknown {
  const path = join(root, file);
  if (!existsSync(path)) throw new Error(`checkpoint ${root}: ${file} is missing`);
  try {
    return readJsonFile(path);
  } catch (e) {
    throw new Error(`checkpoint ${root}: ${(e as Error).message}; ${statSync(path).size} bytes, truncated?`);
  }
}

function loadTensors(root: string, file: string): StateDict {
  return at(root, file, () => torch.loadSafetensors(join(root, file)));
}

function loadOptimizer(root: string): OptimizerState {
  const file = 'optimizer.safetensors';
  return at(root, file, () => {
    const path = join(root, file);
    const meta = torch.readHeader(path).metadata;
    if (meta.format !== 'd2c-adamw/1' || !meta.param_groups) {
      throw new Error(`not an AdamW state (metadata format '${meta.format ?? ''}')`);
    }
    return { tensors: torch.loadSafetensors(path), groups: JSON.parse(meta.param_groups) };
  });
}

interface DiscriminatorState {
  model: StateDict;
  optimizer: OptimizerState;
}

function loadDiscriminator(root: string): DiscriminatorState {
  return at(root, DISCRIMINATOR_FILE, () => {
    const path = join(root, DISCRIMINATOR_FILE);
    const meta = torch.readHeader(path).metadata;
    if (meta.format !== 'd2c-discriminator/1' || !meta.param_groups) {
      throw new Error(`not a discriminator state (metadata format '${meta.format ?? ''}')`);
    }
    const model: StateDict = new Map();
    const tensors = new Map<string, Tensor>();
    for (const [k, t] of torch.loadSafetensors(path)) {
      if (k.startsWith('model.')) model.set(k.slice('model.'.length), t);
      else if (k.startsWith('optimizer.')) tensors.set(k.slice('optimizer.'.length), t);
      else throw new Error(`unexpected tensor ${k} (expected model.* or optimizer.*)`);
    }
    return { model, optimizer: { tensors, groups: JSON.parse(meta.param_groups) } };
  });
}

function discriminatorProblems(d: Discriminator, st: DiscriminatorState): string[] {
  return [
    ...stateDictProblems(d.model.stateDict(), st.model).map((p) => `model ${p}`),
    ...d.optimizer.stateDictProblems(st.optimizer).map((p) => `optimizer ${p}`),
  ].map((p) => `${DISCRIMINATOR_FILE}: ${p}`);
}

function readTrainer(root: string): TrainerJson {
  const t = readJson(root, 'trainer.json') as TrainerJson;
  if (t.format !== 'd2c-trainer/1' || typeof t.step !== 'number' || !t.rng?.cpu) {
    throw new Error(`checkpoint ${root}: trainer.json is not a d2c trainer state (format '${t.format}')`);
  }
  return t;
}

function generatorStates(root: string, t: TrainerJson, want: Record<string, Generator>): [string, Tensor][] {
  const missing = Object.keys(want).filter((n) => !(n in t.rng.generators));
  if (missing.length > 0) {
    throw new Error(
      `checkpoint ${root}: trainer.json has no state for generator(s) ${missing.join(', ')} (saved: ${Object.keys(t.rng.generators).join(', ') || 'none'})`,
    );
  }
  return Object.keys(want).map((n) => [n, fromBase64(t.rng.generators[n])]);
}

/** Missing and unexpected names and shape mismatches of `src` against `own`. */
export function stateDictProblems(own: StateDict, src: StateDict): string[] {
  const out: string[] = [];
  for (const [k, t] of own) {
    const s = src.get(k);
    if (!s) out.push(`missing key ${k}`);
    else if (s.shape.join(',') !== t.shape.join(',')) out.push(`shape mismatch ${k}: expected [${t.shape}], got [${s.shape}]`);
  }
  for (const k of src.keys()) if (!own.has(k)) out.push(`unexpected key ${k}`);
  return out;
}

function stateBase64(state: Tensor): string {
  const s = Buffer.from((state.toTypedArray() as Uint8Array).buffer).toString('base64');
  state.dispose();
  return s;
}

function fromBase64(s: string): Tensor {
  const buf = Buffer.from(s, 'base64');
  return torch.fromBuffer(Uint8Array.from(buf), [buf.length], 'uint8');
}
