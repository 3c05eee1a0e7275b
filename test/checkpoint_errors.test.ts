// Checkpoint folders: contents, atomic replacement, and clear errors for truncated, missing or
// mismatched files (with nothing loaded on error).
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { LayerNorm, Linear } from '../src/nn/layers.ts';
import { Module } from '../src/nn/module.ts';
import { AdamW, EMA } from '../src/optim/index.ts';
import * as torch from '../src/torch/index.ts';
import { loadCheckpoint, readCheckpointConfig, saveCheckpoint } from '../src/train/checkpoint.ts';

const ROOT = mkdtempSync(join(tmpdir(), 'd2c-ckpt-'));
after(() => rmSync(ROOT, { recursive: true, force: true }));

class Net extends Module {
  readonly fc: Linear;
  readonly norm: LayerNorm;
  constructor(width: number, seed: number, fcName = 'fc') {
    super();
    this.fc = this.registerModule(fcName, new Linear(3, width, true, { generator: new torch.Generator(seed) }));
    this.norm = this.registerModule('norm', new LayerNorm(width));
  }
}

function trained(seed: number) {
  const model = new Net(4, seed);
  const opt = new AdamW(model.parameters(), { lr: 0.1 });
  const ema = new EMA(model, 0.5);
  torch.tidy(() =>
    model.norm
      .forward(model.fc.forward(torch.ones([2, 3])))
      .square()
      .sum()
      .backward(),
  );
  opt.step();
  ema.update();
  return { model, opt, ema };
}

function saveOne(dir: string, seed = 1) {
  const t = trained(seed);
  const gen = new torch.Generator(seed);
  saveCheckpoint(dir, {
    config: { kind: 'net', width: 4 },
    model: t.model,
    ema: t.ema,
    optimizer: t.opt,
    trainer: { step: 1, epoch: 0, data: { next: 3 }, generators: { data: gen } },
  });
  return t;
}

const bytes = (t: torch.Tensor) => Buffer.from(t.toTypedArray().buffer);

test('a checkpoint folder holds the five files and loads back exactly', () => {
  const dir = join(ROOT, 'ok');
  const src = saveOne(dir);
  assert.deepEqual(readdirSync(dir).sort(), [
    'config.json',
    'ema.safetensors',
    'model.safetensors',
    'optimizer.safetensors',
    'trainer.json',
  ]);
  assert.deepEqual(readCheckpointConfig(dir), { kind: 'net', width: 4 });
  const dst = { model: new Net(4, 9), opt: new AdamW(new Net(4, 9).parameters()), ema: null as EMA | null };
  dst.opt = new AdamW(dst.model.parameters(), { lr: 0.1 });
  dst.ema = new EMA(dst.model, 0.5);
  const gen = new torch.Generator(77);
  const { trainer } = loadCheckpoint(dir, { model: dst.model, ema: dst.ema, optimizer: dst.opt, generators: { data: gen } });
  assert.deepEqual(trainer, { step: 1, epoch: 0, data: { next: 3 }, extra: undefined });
  for (const [k, t] of src.model.stateDict()) assert.deepEqual(bytes(dst.model.stateDict().get(k) as torch.Tensor), bytes(t), k);
  for (const [k, t] of src.ema.stateDict())
    assert.deepEqual(bytes(dst.ema.stateDict().get(k) as torch.Tensor), bytes(t), `ema ${k}`);
  assert.equal(dst.opt.stepCount, 1);
  // The restored data generator continues as a fresh Generator(1) advanced to the same point.
  assert.deepEqual(
    torch.tidy(() => torch.rand([3], { generator: gen }).toArray()),
    torch.tidy(() => torch.rand([3], { generator: new torch.Generator(1) }).toArray()),
  );
});

test('saving over a checkpoint replaces it whole and keeps unrelated files (logs) in the folder', () => {
  const dir = join(ROOT, 'replace');
  saveOne(dir, 1);
  writeFileSync(join(dir, 'log.jsonl'), '{"step":1}\n');
  const second = saveOne(dir, 2);
  assert.equal(readFileSync(join(dir, 'log.jsonl'), 'utf8'), '{"step":1}\n');
  const m = new Net(4, 5);
  loadCheckpoint(dir, { model: m });
  assert.deepEqual(bytes(m.fc.weight), bytes(second.model.fc.weight));
  assert.deepEqual(
    readdirSync(ROOT).filter((n) => n.startsWith('replace.')),
    [],
    'no temp or parked folders left',
  );
});

test('a save that fails midway leaves the last good checkpoint untouched', () => {
  const dir = join(ROOT, 'failsave');
  const good = saveOne(dir, 1);
  const before = statSync(join(dir, 'model.safetensors')).mtimeMs;
  const gone = torch.zeros([2]);
  gone.dispose();
  assert.throws(() => saveCheckpoint(dir, { config: {}, model: new Map([['x', gone]]) }), /disposed|dispose/);
  assert.equal(statSync(join(dir, 'model.safetensors')).mtimeMs, before);
  const m = new Net(4, 5);
  loadCheckpoint(dir, { model: m });
  assert.deepEqual(bytes(m.fc.weight), bytes(good.model.fc.weight));
  assert.deepEqual(
    readdirSync(ROOT).filter((n) => n.startsWith('failsave.')),
    [],
  );
});

test('a save interrupted between its renames is recovered from the parked folder', () => {
  const dir = join(ROOT, 'parked');
  const good = saveOne(dir, 3);
  renameSync(dir, `${dir}.old-99999999`); // as if the process died after parking the old folder
  const m = new Net(4, 5);
  loadCheckpoint(dir, { model: m });
  assert.deepEqual(bytes(m.fc.weight), bytes(good.model.fc.weight));
  assert.ok(existsSync(dir) && !existsSync(`${dir}.old-99999999`));
  assert.throws(() => loadCheckpoint(join(ROOT, 'nowhere'), { model: m }), /checkpoint .*nowhere: no such folder/);
});

test('truncated files give errors naming the file; nothing is loaded', () => {
  const dir = join(ROOT, 'trunc');
  saveOne(dir);
  const m = new Net(4, 5);
  const w0 = bytes(m.fc.weight);
  const size = statSync(join(dir, 'model.safetensors')).size;
  truncateSync(join(dir, 'model.safetensors'), size - 7);
  assert.throws(() => loadCheckpoint(dir, { model: m }), /model\.safetensors: .*not a valid safetensors file: .*truncated\?/);
  truncateSync(join(dir, 'model.safetensors'), 20);
  assert.throws(() => loadCheckpoint(dir, { model: m }), /model\.safetensors: .*header length \d+ exceeds the file size 20/);
  assert.deepEqual(bytes(m.fc.weight), w0);

  saveOne(dir);
  truncateSync(join(dir, 'optimizer.safetensors'), statSync(join(dir, 'optimizer.safetensors')).size - 1);
  const opt = new AdamW(m.parameters(), { lr: 0.1 });
  assert.throws(() => loadCheckpoint(dir, { model: m, optimizer: opt }), /optimizer\.safetensors: .*truncated/);
  assert.deepEqual(bytes(m.fc.weight), w0, 'model untouched when the optimizer file is bad');

  saveOne(dir);
  truncateSync(join(dir, 'trainer.json'), 30);
  assert.throws(() => loadCheckpoint(dir, { model: m, optimizer: opt }), /trainer\.json: not valid JSON .*30 bytes, truncated\?/);
  unlinkSync(join(dir, 'trainer.json'));
  unlinkSync(join(dir, 'ema.safetensors'));
  assert.throws(() => loadCheckpoint(dir, { model: m, ema: new EMA(m, 0.9) }), /ema\.safetensors is missing/);
});

test('mismatched shapes or names are listed in one error; nothing is loaded', () => {
  const dir = join(ROOT, 'mismatch');
  saveOne(dir);
  const wide = new Net(5, 5);
  const w0 = bytes(wide.fc.weight);
  assert.throws(
    () => loadCheckpoint(dir, { model: wide }),
    /model\.safetensors: shape mismatch fc\.weight: expected \[5,3\], got \[4,3\][\s\S]*shape mismatch norm\.bias/,
  );
  assert.deepEqual(bytes(wide.fc.weight), w0);
  const renamed = new Net(4, 5, 'proj');
  assert.throws(() => loadCheckpoint(dir, { model: renamed }), /missing key proj\.weight[\s\S]*unexpected key fc\.weight/);
  // The model matches but the optimizer has a different parameter list.
  const m = new Net(4, 5);
  const w1 = bytes(m.fc.weight);
  const opt = new AdamW([{ params: m.parameters().slice(0, 2) }], { lr: 0.1 });
  assert.throws(
    () => loadCheckpoint(dir, { model: m, optimizer: opt }),
    /optimizer\.safetensors: group 0 has 4 params in the state, 2 in the optimizer/,
  );
  assert.deepEqual(bytes(m.fc.weight), w1, 'model untouched when the optimizer state does not fit');
  assert.throws(
    () => loadCheckpoint(dir, { model: m, generators: { noise: new torch.Generator(0) } }),
    /no state for generator\(s\) noise \(saved: data\)/,
  );
});

test('a discriminator and its AdamW state travel in discriminator.safetensors; a bad one loads nothing', () => {
  const dir = join(ROOT, 'disc');
  const gen = trained(1);
  const disc = trained(2);
  saveCheckpoint(dir, {
    config: {},
    model: gen.model,
    optimizer: gen.opt,
    discriminator: { model: disc.model, optimizer: disc.opt },
  });
  const into = () => {
    const model = new Net(4, 7);
    return { model, optimizer: new AdamW(model.parameters(), { lr: 0.1 }) };
  };
  const d = into();
  loadCheckpoint(dir, { model: new Net(4, 8), discriminator: d });
  for (const [k, t] of disc.model.stateDict()) assert.deepEqual(bytes(d.model.stateDict().get(k) as torch.Tensor), bytes(t), k);
  assert.equal(d.optimizer.stepCount, 1);

  const m = new Net(4, 9);
  const w0 = bytes(m.fc.weight);
  truncateSync(join(dir, 'discriminator.safetensors'), statSync(join(dir, 'discriminator.safetensors')).size - 3);
  assert.throws(() => loadCheckpoint(dir, { model: m, discriminator: into() }), /discriminator\.safetensors: .*truncated\?/);
  assert.deepEqual(bytes(m.fc.weight), w0, 'model untouched when the discriminator file is bad');

  // A save without a discriminator drops the previous one instead of carrying it over as a stale file.
  saveOne(dir);
  assert.throws(() => loadCheckpoint(dir, { discriminator: into() }), /discriminator\.safetensors is missing/);
});
