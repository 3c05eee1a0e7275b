// Settings are checked where they are read: D2C_* environment variables name themselves, their
// value and what is allowed; a GPT config refuses unknown fields as the VQ, KL and MAR ones do.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ddpBackend, ddpTimeoutS } from '../src/cli/launch.ts';
import { gptConfig } from '../src/generators/gpt.ts';
import { cpuCacheLimit, mallocPolicy } from '../src/torch/native.ts';

test('D2C_DDP_BACKEND: gloo (default) or nccl', () => {
  assert.equal(ddpBackend('cpu', {}), 'gloo');
  assert.equal(ddpBackend('cpu', { D2C_DDP_BACKEND: 'nccl' }), 'nccl');
  assert.throws(() => ddpBackend('cpu', { D2C_DDP_BACKEND: 'mpi' }), /D2C_DDP_BACKEND="mpi" is not a backend: use gloo or nccl/);
});

test('D2C_DDP_TIMEOUT_S: seconds > 0 (default 300), never NaN', () => {
  assert.equal(ddpTimeoutS(undefined), 300);
  assert.equal(ddpTimeoutS('30'), 30);
  assert.equal(ddpTimeoutS('0.5'), 0.5);
  for (const bad of ['abc', '0', '-5', '10s', 'Infinity', '0x10'])
    assert.throws(() => ddpTimeoutS(bad), new RegExp(`D2C_DDP_TIMEOUT_S="${bad}" is not a number of seconds > 0`));
});

test('D2C_MALLOC and D2C_CPU_CACHE_MB', () => {
  assert.equal(mallocPolicy(undefined), 'tuned');
  assert.equal(mallocPolicy('system'), 'system');
  assert.throws(() => mallocPolicy('glibc'), /D2C_MALLOC must be unset or 'system'.*got 'glibc'/);
  assert.equal(cpuCacheLimit('0'), 0);
  assert.equal(cpuCacheLimit('2'), 2 * 2 ** 20);
  for (const bad of ['-1', 'lots', '0x10'])
    assert.throws(() => cpuCacheLimit(bad), /D2C_CPU_CACHE_MB must be a number of MiB >= 0/);
});

test('gptConfig refuses an unknown field (a --set typo), naming it', () => {
  assert.equal(gptConfig('gpt_test', { nLayer: 3 }).nLayer, 3);
  assert.throws(
    () => gptConfig('gpt_test', { nLayers: 3 } as Record<string, unknown>),
    /GPT preset gpt_test: unknown config field\(s\) nLayers \(known: dim, nLayer,/,
  );
});
