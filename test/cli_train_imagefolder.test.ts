// `d2c train tokenizer --dataset imagefolder` on a generated colour folder (mixed sizes, a corrupt
// PNG, a text file): both kinds, in 1 and 3 channels, with the channels and size taken from the
// preset (the 1-channel presets decode the colour files to luma).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { makeColourFolder } from './helpers/colour_folder.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'd2c-train-if-'));
const data = join(tmp, 'images');
before(() => makeColourFolder(data, { perClass: 4, junk: true }));
after(() => rmSync(tmp, { recursive: true, force: true }));

function d2c(...args: string[]): { code: number | null; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 180_000,
  });
  return { code: r.status, stderr: r.stderr };
}

for (const [kind, preset, channels] of [
  ['vq', 'vq_fmnist', 1],
  ['kl', 'kl_fmnist', 1],
  ['vq', 'vq_c32', 3],
  ['kl', 'kl_c32', 3],
] as const) {
  test(`train tokenizer --kind ${kind} --preset ${preset} on an ImageFolder: ${channels} channel(s)`, async () => {
    const out = join(tmp, `${kind}-${channels}`);
    const r = d2c(
      ...['train', 'tokenizer', '--kind', kind, '--preset', preset, '--dataset', 'imagefolder', '--data', data],
      ...['--out', out, '--steps', '2', '--batch-size', '4', '--log-every', '1', '--threads', '1'],
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: skipping unreadable image .*broken\.png/);
    const pc = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    assert.equal(pc.config.inChannels, channels);
    assert.equal(pc.recipe.imageSize, 32);
    assert.equal(pc.recipe.steps, 2);
    // The reconstruction grid (originals above reconstructions) is in the model's channels.
    const meta = await sharp(join(out, 'recon.png')).metadata();
    assert.equal(meta.channels, channels);
    assert.ok(existsSync(join(out, 'model.safetensors')));
  });
}

test('a 1-channel preset asked for 3 channels is an error naming both and the fix', () => {
  const r = d2c(
    ...['train', 'tokenizer', '--kind', 'kl', '--preset', 'kl_fmnist', '--dataset', 'imagefolder', '--data', data],
    ...['--channels', '3', '--out', join(tmp, 'bad'), '--steps', '1'],
  );
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /d2c: kl_fmnist takes 1-channel images but imagefolder:.* has 3 channels \(--set inChannels=3 outChannels=3\)/,
  );
});
