// Presets: vq16/kl16 have exactly the official state-dict names and shapes (pinned by
// scripts/fixtures/official_keys.py, whose naming rules are checked against the real references'
// tiny weight lists), and the Fashion-MNIST presets share one grid.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { buildTokenizer, gridSize, presetParameters, stateDictShapes } from '../src/tokenizers/presets.ts';

function pinned(name: string): Record<string, number[]> {
  return JSON.parse(readFileSync(`test/fixtures/${name}`, 'utf8'));
}

function assertSameKeys(ours: Record<string, number[]>, official: Record<string, number[]>, what: string): void {
  const missing = Object.keys(official).filter((k) => !(k in ours));
  const extra = Object.keys(ours).filter((k) => !(k in official));
  const shapes = Object.keys(official).filter((k) => k in ours && JSON.stringify(ours[k]) !== JSON.stringify(official[k]));
  assert.deepEqual({ missing, extra, shapes }, { missing: [], extra: [], shapes: [] }, what);
}

test('vq16 state dict equals LlamaGen VQ-16 (names and shapes), without allocating weights', () => {
  assertSameKeys(stateDictShapes('vq', 'vq16'), pinned('keys_vq16.json'), 'vq16');
  const meta = buildTokenizer('vq', 'vq16', {}, { device: 'meta' });
  assert.equal(meta.stateDict().get('quantize.embedding.weight')?.device, 'meta');
  assert.equal(presetParameters('vq', 'vq16'), 71_883_403);
});

test('kl16 state dict equals MAR KL-16 (names and shapes)', () => {
  assertSameKeys(stateDictShapes('kl', 'kl16'), pinned('keys_kl16.json'), 'kl16');
  assert.equal(presetParameters('kl', 'kl16'), 66_456_019);
});

test('the tiny presets list exactly the reference fixtures weight names', () => {
  for (const [kind, preset, fixture] of [
    ['vq', 'vq_tiny', 'llamagen_vq_tiny'],
    ['kl', 'kl_tiny', 'mar_vae_tiny'],
  ] as const) {
    const ref = JSON.parse(readFileSync(`test/fixtures/reference/${fixture}.json`, 'utf8')).weights;
    assertSameKeys(stateDictShapes(kind, preset), ref, preset);
  }
});

test('Fashion-MNIST presets: 1 channel, the VQ and KL grids are both 8×8 at 32×32, small', () => {
  assert.equal(gridSize('vq', 'vq_fmnist', 32), 8);
  assert.equal(gridSize('kl', 'kl_fmnist', 32), 8);
  assert.equal(gridSize('vq', 'vq16', 256), 16);
  assert.equal(gridSize('kl', 'kl16', 256), 16);
  assert.throws(() => gridSize('vq', 'vq_fmnist', 30), /not a multiple of the vq preset vq_fmnist's downsampling 4/);
  for (const [kind, p] of [
    ['vq', 'vq_fmnist'],
    ['kl', 'kl_fmnist'],
  ] as const) {
    const shapes = stateDictShapes(kind, p);
    assert.equal(shapes['encoder.conv_in.weight'][1], 1, `${p} takes 1 channel`);
    assert.equal(shapes['decoder.conv_out.weight'][0], 1, `${p} outputs 1 channel`);
    assert.ok(presetParameters(kind, p) < 2e6, `${p} stays small`);
  }
});
