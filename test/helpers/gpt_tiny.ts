// The reference tiny GPT (test/fixtures/reference/llamagen_gpt_tiny.*) loaded into our GPT, and a
// relative-tolerance comparison, shared by the gpt_* tests.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { GPT, type GPTConfig, gptConfigFromArgs } from '../../src/generators/gpt.ts';
import type { Tensor } from '../../src/torch/index.ts';
import * as torch from '../../src/torch/index.ts';

const REF = new URL('../fixtures/reference/', import.meta.url).pathname;

/** The model (eval mode) with the fixture's weights, and the fixture's inputs/outputs. */
export function loadTinyReference(): { model: GPT; io: Map<string, Tensor>; config: GPTConfig } {
  const meta = JSON.parse(readFileSync(`${REF}llamagen_gpt_tiny.json`, 'utf8'));
  const config = gptConfigFromArgs(meta.config);
  const model = new GPT(config).eval();
  const weights = torch.loadSafetensors(`${REF}llamagen_gpt_tiny.weights.safetensors`);
  // The fixture was saved after setup_caches, so it holds LlamaGen's KV-cache buffers: not weights.
  for (const k of [...weights.keys()]) {
    if (k.includes('.kv_cache.')) {
      weights.get(k)?.dispose();
      weights.delete(k);
    }
  }
  model.loadStateDict(weights);
  torch.dispose(weights);
  return { model, io: torch.loadSafetensors(`${REF}llamagen_gpt_tiny.io.safetensors`), config };
}

/** max|a-b| <= tol * max(1, max|b|) */
export function assertRelClose(a: Tensor, b: Tensor, tol: number, what: string): void {
  assert.deepEqual(a.shape, b.shape, `${what}: shape`);
  const [err, scale] = torch.tidy(() => [a.sub(b).abs().max().item(), b.abs().max().item()]);
  assert.ok(err <= tol * Math.max(1, scale), `${what}: max error ${err} over scale ${scale}`);
}
