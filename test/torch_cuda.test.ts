// CUDA round trips; skipped where libtorch sees no GPU (the CPU-only CI).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import * as torch from '../src/torch/index.ts';
import { assertClose } from './helpers/close.ts';

const skip = torch.cudaIsAvailable() ? false : 'no CUDA device (torch.cudaIsAvailable() is false)';

describe('cuda', { skip }, () => {
  test('to cuda, an op there, and back', () => {
    torch.tidy(() => {
      const x = torch.tensor([1, 2, 3]);
      const g = x.to('cuda');
      assert.match(g.device, /^cuda/);
      const y = g.mul(2).add(1);
      assert.match(y.device, /^cuda/);
      assert.deepEqual(y.cpu().toArray(), [3, 5, 7]);
      assert.deepEqual(y.toArray(), [3, 5, 7], 'toArray copies a device tensor to the host');
    });
  });
  test('factories on the device, matmul/sdpa/gelu agree with the CPU', () => {
    torch.tidy(() => {
      const gen = new torch.Generator(0);
      const a = torch.randn([2, 4, 8, 16], { generator: gen });
      const b = torch.randn([2, 4, 8, 16], { generator: gen });
      const cpu = torch.F.gelu(torch.F.scaledDotProductAttention(a, b, b, { isCausal: true }).matmul(b.transpose(-2, -1)));
      const dev = torch.F.gelu(
        torch.F.scaledDotProductAttention(a.to('cuda'), b.to('cuda'), b.to('cuda'), { isCausal: true }).matmul(
          b.to('cuda').transpose(-2, -1),
        ),
      );
      // TF32 may be on for CUDA matmuls: compare loosely
      assertClose(dev.cpu(), cpu, { atol: 1e-2, rtol: 1e-2 });
      const z = torch.zeros([3], { device: 'cuda', dtype: 'float16' });
      assert.match(z.device, /^cuda/);
      assert.equal(z.dtype, 'float16');
      const r = torch.randn([4], { device: 'cuda', generator: new torch.Generator(1, 'cuda') });
      assert.match(r.device, /^cuda/);
    });
  });
  test('autograd on the device', () => {
    torch.tidy(() => {
      const x = torch.tensor([1, 2, 3], { device: 'cuda', requiresGrad: true });
      x.pow(2).sum().backward();
      assert.deepEqual(x.grad!.cpu().toArray(), [2, 4, 6]);
    });
  });
  test('a device mismatch is an error, not a crash', () => {
    torch.tidy(() => {
      assert.throws(() => torch.ones([2]).add(torch.ones([2], { device: 'cuda' })), /aten::add\.Tensor: .*(device|cuda)/);
    });
  });
  test('safetensors saves a device tensor (its bytes come through the host)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'd2c-cuda-'));
    try {
      torch.tidy(() => {
        const x = torch.arange(4, undefined, 1, { dtype: 'float32', device: 'cuda' });
        torch.saveSafetensors(join(dir, 'x.safetensors'), { x });
        assert.deepEqual(torch.loadSafetensors(join(dir, 'x.safetensors')).get('x')!.toArray(), [0, 1, 2, 3]);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('cudaDeviceCount agrees with cudaIsAvailable', () => {
  assert.equal(torch.cudaDeviceCount() > 0, torch.cudaIsAvailable());
});

test('without CUDA, moving a tensor there is an error, not a crash', { skip: !skip && 'a CUDA device is present' }, () => {
  assert.throws(() => torch.ones([2]).to('cuda'), /aten::to\.device: .*cuda/);
});
