// --device and --precision: CUDA asked for where libtorch has none is one `d2c:` line (every
// command that runs a model, and the library API); a data-parallel worker takes cuda:LOCAL_RANK;
// NCCL on CUDA, Gloo on the CPU; fit hands both flags to its child processes and keeps the precision.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { childArgs } from '../src/cli/commands/fit.ts';
import { runDevice } from '../src/cli/device_options.ts';
import { ddpBackend } from '../src/cli/launch.ts';
import { D2C } from '../src/pipeline/d2c.ts';
import * as torch from '../src/torch/index.ts';
import { d2cInProcess } from './helpers/cli_in_process.ts';
import { d2c } from './helpers/tiny_pipeline.ts';

const noCuda = torch.cudaIsAvailable() ? 'a CUDA device is present' : false;
const NO_GPU = /^d2c: --device cuda: this libtorch \(.+\) sees no CUDA device \(a CPU-only build, or no GPU visible\)\n$/;

test('--device cuda without a GPU: one line from every command that runs a model', { skip: noCuda }, async () => {
  const commands = [
    ['sample', '--n', '1'],
    ['demo'],
    ['eval', '--n', '2'],
    ['serve', '--port', '0'],
    ['recon', '--tokenizer', 'models/d2c-fmnist/vq'],
    ['cache', '--vq', 'models/d2c-fmnist/vq', '--kl', 'models/d2c-fmnist/kl', '--out', '/tmp/d2c-never-written'],
    ['train', 'stage1', '--cache', '/nonexistent', '--out', '/tmp/d2c-never-written'],
    ['train', 'tokenizer', '--kind', 'vq', '--out', '/tmp/d2c-never-written'],
    ['fit', '--data', '/nonexistent', '--out', '/tmp/d2c-never-written'],
    ['dry-run'],
  ];
  for (const args of commands) {
    const r = await d2cInProcess(...args, '--device', 'cuda', '--threads', '1');
    assert.equal(r.code, 1, `${args[0]}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, NO_GPU, `${args.join(' ')}`);
  }
  // and through main(), as a user sees it
  const r = d2c('sample', '--n', '1', '--device', 'cuda', '--threads', '1');
  assert.equal(r.code, 1);
  assert.match(r.stderr, NO_GPU);
});

test('a bad --device or --precision names the option and the choices', async () => {
  const r = await d2cInProcess('sample', '--device', 'tpu', '--n', '1', '--threads', '1');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^d2c: --device must be cpu, cuda or cuda:N, got 'tpu'\n$/);
  const p = await d2cInProcess('sample', '--precision', 'fp16', '--n', '1', '--threads', '1');
  assert.equal(p.code, 1);
  assert.match(p.stderr, /^d2c: --precision must be one of fp32, bf16, got "fp16"\n$/);
  const h = await d2cInProcess('sample', '--head-precision', 'fp16', '--n', '1', '--threads', '1');
  assert.equal(h.code, 1);
  assert.match(h.stderr, /^d2c: --head-precision must be one of fp32, bf16, auto, got "fp16"\n$/);
});

test('fit: its child processes get --device and --precision; a run keeps its precision', async () => {
  const o = { data: 'd', out: 'm', size: 32, stepsScale: 1, seed: 0, threads: 2, perClass: 8, jobs: 2 };
  const args = childArgs({ ...o, device: 'cpu', precision: 'bf16' }, 'vq tokenizer', 1).join(' ');
  assert.match(args, /--device cpu/);
  assert.match(args, /--precision bf16/);
  const root = mkdtempSync(join(tmpdir(), 'd2c-fit-precision-'));
  try {
    mkdirSync(join(root, 'runs'));
    const record = { data: resolve(root, 'data'), size: 32, seed: 0, precision: 'bf16' };
    writeFileSync(join(root, 'runs', 'fit.json'), JSON.stringify(record));
    const r = await d2cInProcess('fit', '--data', join(root, 'data'), '--out', root, '--threads', '1');
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^d2c: .+ was fit with --precision bf16, not fp32: use another --out, or the same flag to continue it\n$/,
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a data-parallel worker asked for cuda takes the GPU of its LOCAL_RANK', { skip: noCuda }, () => {
  assert.equal(runDevice('cpu', { LOCAL_RANK: '1' }), 'cpu');
  assert.throws(() => runDevice('cuda', { LOCAL_RANK: '1' }), /^UsageError: --device cuda:1: this libtorch/);
  assert.throws(() => runDevice('cuda:3', {}), /^UsageError: --device cuda:3: this libtorch/);
});

test('NCCL for a CUDA job, Gloo for a CPU one, D2C_DDP_BACKEND overrides', () => {
  assert.equal(ddpBackend('cuda:0', {}), 'nccl');
  assert.equal(ddpBackend('cuda', {}), 'nccl');
  assert.equal(ddpBackend('cpu', {}), 'gloo');
  assert.equal(ddpBackend('cuda:1', { D2C_DDP_BACKEND: 'gloo' }), 'gloo');
});

test('the library API: D2C.fromPretrained on a missing GPU and a bad precision throw one line', { skip: noCuda }, () => {
  assert.throws(
    () => D2C.fromPretrained('models/d2c-fmnist', { device: 'cuda' }),
    /^Error: device cuda: this libtorch \(.+\) sees no CUDA device \(a CPU-only build, or no GPU visible\)$/,
  );
  assert.throws(
    () => D2C.fromPretrained('models/d2c-fmnist', { precision: 'fp8' as torch.Precision }),
    /precision must be one of fp32, bf16, got 'fp8'/,
  );
});

test('bf16 sampling of the shipped model: same shapes, float32 images, close to fp32 but not identical', () => {
  torch.setNumThreads(1);
  const fp32 = D2C.fromPretrained('models/d2c-fmnist');
  const bf16 = D2C.fromPretrained('models/d2c-fmnist', { precision: 'bf16' });
  torch.tidy(() => {
    const o = { classes: [0, 7], seed: 3, stage2: { steps: 2, diffusionSteps: 5 } };
    // same codes for both, so the comparison is of stage 2 and the decoder alone
    const a = fp32.generate(o);
    const b = bf16.generate({ ...o, codes: a.codes! });
    assert.equal(b.images.dtype, 'float32');
    assert.deepEqual(b.images.shape, a.images.shape);
    const diff = b.images.sub(a.images).abs().mean().item();
    assert.ok(diff > 0, 'bf16 gave fp32 images bit for bit: autocast did not engage');
    assert.ok(diff < 0.2, `bf16 images differ from fp32 by ${diff} on average (pixels in [-1, 1])`);
  });
});
