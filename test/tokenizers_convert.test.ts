// scripts/convert_checkpoint.py on small pickled checkpoints laid out as the public ones are
// (LlamaGen's {"model", "discriminator", "args"} with a DDP prefix; MAR's {"model", "model_ema"}): the
// converted folder loads into the tokenizers with strict names and reproduces the reference outputs.
// Needs the project's Python (.venv with torch); skipped without it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { AutoencoderKL } from '../src/tokenizers/kl.ts';
import { tokenizerFromCheckpoint } from '../src/tokenizers/presets.ts';
import type { VQModel } from '../src/tokenizers/vq.ts';
import * as torch from '../src/torch/index.ts';

const PY = '.venv/bin/python';
const REF = 'test/fixtures/reference';
const skip = existsSync(PY) ? false : 'needs .venv/bin/python with torch (npm run setup)';
const dir = mkdtempSync(join(tmpdir(), 'd2c-convert-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Pickles the fixture weights the way the reference repos save checkpoints. */
function makeCheckpoint(out: string, weights: string, layout: 'llamagen' | 'mar'): void {
  const py = `
import argparse, sys, torch
from safetensors.torch import load_file
sd = load_file(sys.argv[1])
if sys.argv[3] == 'llamagen':
    ck = {'model': {'module.' + k: v for k, v in sd.items()},
          'discriminator': {'main.0.weight': torch.zeros(4, 3, 4, 4)},
          'steps': 10, 'args': argparse.Namespace(vq_model='VQ-16')}
else:
    model = dict(sd); model['loss.discriminator.main.0.weight'] = torch.zeros(4, 3, 4, 4)
    ck = {'model': model, 'model_ema': {k: v * 2 for k, v in sd.items()}, 'epoch': 3, 'args': argparse.Namespace(vae='kl16')}
torch.save(ck, sys.argv[2])
`;
  execFileSync(PY, ['-c', py, weights, out, layout]);
}

function convert(...args: string[]): string {
  return execFileSync(PY, ['scripts/convert_checkpoint.py', ...args], { encoding: 'utf8' });
}

test('LlamaGen-style VQ checkpoint converts and loads strictly with the reference outputs', { skip }, () => {
  const pt = join(dir, 'vq.pt');
  makeCheckpoint(pt, `${REF}/llamagen_vq_tiny.weights.safetensors`, 'llamagen');
  const log = convert('--kind', 'vq', '--preset', 'vq_tiny', pt, join(dir, 'vq'));
  assert.match(log, /\[model\].*dropped 0 keys/);
  const cfg = JSON.parse(readFileSync(join(dir, 'vq', 'config.json'), 'utf8'));
  assert.deepEqual(cfg.config, {
    codebookSize: 64,
    codebookEmbedDim: 8,
    zChannels: 32,
    ch: 32,
    encoderChMult: [1, 2],
    decoderChMult: [1, 2],
    numResBlocks: 2,
    inChannels: 3,
    outChannels: 3,
  });
  assert.equal(cfg.kind, 'vq');
  assert.equal(existsSync(join(dir, 'vq', 'ema.safetensors')), false);
  const vq = tokenizerFromCheckpoint(cfg, torch.loadSafetensors(join(dir, 'vq', 'model.safetensors'))) as VQModel;
  const io = torch.loadSafetensors(`${REF}/llamagen_vq_tiny.io.safetensors`);
  const codes = torch.noGrad(() => vq.encodeCodes(io.get('image') as torch.Tensor));
  assert.equal(
    codes
      .ne(io.get('indices') as torch.Tensor)
      .sum()
      .item(),
    0,
  );
});

test('MAR-style KL checkpoint: model + EMA, the loss discriminator dropped, scale factor recorded', { skip }, () => {
  const pt = join(dir, 'kl.ckpt');
  makeCheckpoint(pt, `${REF}/mar_vae_tiny.weights.safetensors`, 'mar');
  const log = convert('--kind', 'kl', '--preset', 'kl_tiny', '--config', '{"scaleFactor": 0.2325}', pt, join(dir, 'kl'));
  assert.match(log, /dropped 1 keys .*loss\.discriminator/);
  const cfg = JSON.parse(readFileSync(join(dir, 'kl', 'config.json'), 'utf8'));
  assert.equal(cfg.config.scaleFactor, 0.2325);
  assert.equal(cfg.config.embedDim, 4);
  assert.deepEqual(cfg.config.chMult, [1, 2]);
  const kl = tokenizerFromCheckpoint(cfg, torch.loadSafetensors(join(dir, 'kl', 'model.safetensors'))) as AutoencoderKL;
  assert.equal(kl.config.scaleFactor, 0.2325);
  assert.equal(kl.training, false);
  assert.throws(
    () => tokenizerFromCheckpoint({ ...cfg, kind: 'vq', preset: 'vq_tiny', config: {} }, kl.stateDict()),
    /missing key quantize\.embedding\.weight/,
  );
  const io = torch.loadSafetensors(`${REF}/mar_vae_tiny.io.safetensors`);
  torch.noGrad(() => {
    const mean = kl.encode(io.get('image') as torch.Tensor).mean;
    const ref = io.get('posterior_mean') as torch.Tensor;
    assert.ok(mean.sub(ref).abs().max().item() <= 1e-4 * Math.max(1, ref.abs().max().item()));
  });
  const ema = torch.loadSafetensors(join(dir, 'kl', 'ema.safetensors'));
  const w = torch.loadSafetensors(`${REF}/mar_vae_tiny.weights.safetensors`).get('quant_conv.weight') as torch.Tensor;
  assert.equal((ema.get('quant_conv.weight') as torch.Tensor).sub(w.mul(2)).abs().max().item(), 0);
});

test('the converter refuses what it cannot convert, naming the problem', { skip }, () => {
  const pt = join(dir, 'empty.pt');
  execFileSync(PY, ['-c', `import torch; torch.save({'epoch': 1}, '${pt}')`]);
  assert.throws(
    () => convert('--kind', 'gpt', '--preset', 'x', pt, join(dir, 'x')),
    /no state dict found; top-level keys: \['epoch'\]/,
  );
  assert.throws(
    () => convert('--kind', 'vq', '--preset', 'x', '--config', '[1]', pt, join(dir, 'x')),
    /--config must be a JSON object/,
  );
});

test('LlamaGen GPT and MAR checkpoints convert (caches dropped, EMA kept) and load as d2c parts', { skip }, async () => {
  const { loadPart } = await import('../src/pipeline/parts.ts');
  const py = `
import sys, torch
from safetensors.torch import load_file
gpt = load_file(sys.argv[1])
torch.save({'model': {'module.' + k: v for k, v in gpt.items()}, 'steps': 5}, sys.argv[3])
mar = load_file(sys.argv[2])
torch.save({'model': mar, 'model_ema': {k: v * 2 for k, v in mar.items()}, 'epoch': 1}, sys.argv[4])
`;
  const gptPt = join(dir, 'gpt.pt');
  const marPt = join(dir, 'mar.pt');
  execFileSync(PY, [
    '-c',
    py,
    `${REF}/llamagen_gpt_tiny.weights.safetensors`,
    `${REF}/mar_tiny.weights.safetensors`,
    gptPt,
    marPt,
  ]);
  const ref = JSON.parse(readFileSync(`${REF}/llamagen_gpt_tiny.json`, 'utf8')).config;
  const gptConfig = {
    dim: ref.dim,
    nLayer: ref.n_layer,
    nHead: ref.n_head,
    vocabSize: ref.vocab_size,
    numClasses: ref.num_classes,
    blockSize: ref.block_size,
  };
  convert(
    '--kind',
    'gpt',
    '--preset',
    'gpt_test',
    '--config',
    JSON.stringify({ ...gptConfig, multipleOf: 256 }),
    gptPt,
    join(dir, 'gpt'),
  );
  const gpt = loadPart(join(dir, 'gpt'));
  assert.equal(gpt.config.kind, 'gpt');
  assert.ok(gpt.model.numParameters() > 0);

  convert('--kind', 'mar', '--preset', 'mar_tiny', marPt, join(dir, 'mar'));
  const plain = loadPart(join(dir, 'mar'), { ema: false }).model.stateDict();
  const ema = loadPart(join(dir, 'mar')).model.stateDict();
  const w = torch.loadSafetensors(`${REF}/mar_tiny.weights.safetensors`);
  const k = 'z_proj.weight';
  assert.deepEqual(plain.get(k)?.toArray(), w.get(k)?.toArray());
  assert.deepEqual(ema.get(k)?.toArray(), w.get(k)?.mul(2).toArray()); // model_ema is preferred
});
