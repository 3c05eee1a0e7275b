// Resume is bit-exact: N steps straight through (here) = k steps, save, then load in a fresh
// process and train N − k (two spawned `tsx` processes).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as torch from '../src/torch/index.ts';
import { newRun, TOTAL, train, weights } from './support/resume_run.ts';

const SCRIPT = new URL('./support/resume_run.ts', import.meta.url).pathname;
const ROOT = new URL('..', import.meta.url).pathname;

test('training N steps equals training k, saving, resuming in a fresh process and training N − k (bit-exact)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'd2c-resume-'));
  try {
    const k = 6; // mid-epoch (4 batches per epoch), after warm-up
    const tsx = (...args: string[]) => execFileSync('npx', ['tsx', SCRIPT, ...args], { cwd: ROOT, stdio: 'pipe' });
    tsx('save', join(dir, 'ckpt'), String(k));
    tsx('resume', join(dir, 'ckpt'), String(TOTAL), join(dir, 'resumed.safetensors'));

    const straight = newRun();
    train(straight, TOTAL);
    const want = weights(straight);
    const got = torch.loadSafetensors(join(dir, 'resumed.safetensors'));
    assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort());
    for (const [name, w] of want) {
      const g = got.get(name) as torch.Tensor;
      assert.deepEqual(Buffer.from(g.toTypedArray().buffer), Buffer.from(w.toTypedArray().buffer), `${name} differs`);
    }
    // And the run did train: the weights moved away from their initial values.
    const init = newRun();
    const moved = torch.tidy(() => init.model.head.weight.sub(straight.model.head.weight).abs().max().item());
    assert.ok(moved > 1e-3, `head moved ${moved}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
