// Tokenizer resume with the PatchGAN loss on is bit-exact: N steps straight through (here) = k steps,
// save, then load in a fresh process and train N − k; the discriminator and its AdamW state travel in
// discriminator.safetensors. A checkpoint without that file resumes only when its discriminator had
// not trained yet, or with freshDiscriminator (older checkpoints).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runTraining } from '../src/train/trainer.ts';
import { TOTAL, tinyGanRecipe, tinyGanTask, trainTiny } from './support/tokenizer_resume_run.ts';

const SCRIPT = new URL('./support/tokenizer_resume_run.ts', import.meta.url).pathname;
const ROOT = new URL('..', import.meta.url).pathname;
const K = 3; // mid-epoch (2 batches per epoch)
const FILES = ['model.safetensors', 'ema.safetensors', 'optimizer.safetensors', 'discriminator.safetensors'];

const dir = mkdtempSync(join(tmpdir(), 'd2c-tok-resume-'));
const atK = join(dir, 'at-k'); // the checkpoint after K steps, kept for the error tests
after(() => rmSync(dir, { recursive: true, force: true }));

const child = (...args: string[]) =>
  execFileSync(process.execPath, ['--import', 'tsx', SCRIPT, ...args], { cwd: ROOT, stdio: 'pipe' });
const file = (d: string, f: string) => readFileSync(join(d, f));

/** A copy of the K-step checkpoint to damage. */
function copyAtK(name: string): string {
  const d = join(dir, name);
  cpSync(atK, d, { recursive: true });
  return d;
}

before(() => {
  child(atK, String(K));
});

test('tokenizer with the GAN loss: N steps = k steps, save, resume in a fresh process, N − k (generator and discriminator bit-exact)', async () => {
  const straight = join(dir, 'straight');
  await trainTiny(straight, TOTAL);
  const cut = copyAtK('cut');
  child(cut, String(TOTAL), 'resume');
  for (const f of FILES) assert.ok(file(straight, f).equals(file(cut, f)), `${f} differs after resume from step ${K}`);
  // The discriminator did train after the resume, so the comparison covers its updates.
  assert.ok(!file(atK, 'discriminator.safetensors').equals(file(cut, 'discriminator.safetensors')), 'discriminator moved');

  // Control: restarting the discriminator (as before it was saved) changes the run.
  const fresh = copyAtK('fresh-control');
  unlinkSync(join(fresh, 'discriminator.safetensors'));
  const task = await tinyGanTask(tinyGanRecipe(), { freshDiscriminator: true });
  const stderr = captureStderr(() =>
    runTraining(task, {
      steps: TOTAL,
      outDir: fresh,
      resume: true,
      quiet: true,
      logEvery: 1000,
    }),
  );
  assert.match(await stderr, /warning: .*discriminator\.safetensors is missing.*restarting it from its initial weights/);
  assert.ok(
    !file(straight, 'model.safetensors').equals(file(fresh, 'model.safetensors')),
    'a fresh discriminator changes the run',
  );
});

test('a GAN checkpoint without discriminator.safetensors is a clear error naming the file and the way on', async () => {
  const d = copyAtK('missing');
  unlinkSync(join(d, 'discriminator.safetensors'));
  await assert.rejects(
    async () => (await tinyGanTask()).load(d),
    /discriminator\.safetensors is missing, but its discriminator trained for 3 steps \(GAN loss from step 0\); checkpoints written before .* --fresh-discriminator/,
  );
  // Saved before the GAN started: the fresh discriminator is the one the run had, so it resumes.
  const config = JSON.parse(file(d, 'config.json').toString());
  config.recipe.train.gan.start = K;
  writeFileSync(join(d, 'config.json'), JSON.stringify(config));
  assert.equal((await tinyGanTask(tinyGanRecipe({ start: K }))).load(d).step, K);
});

test('a bad discriminator.safetensors is a clear error; a GAN-off run refuses a checkpoint that has one', async () => {
  const d = copyAtK('bad');
  const path = join(d, 'discriminator.safetensors');
  truncateSync(path, readFileSync(path).length - 5);
  await assert.rejects(async () => (await tinyGanTask()).load(d), /discriminator\.safetensors: .*truncated\?/);
  truncateSync(path, 20);
  await assert.rejects(
    async () => (await tinyGanTask()).load(d),
    /discriminator\.safetensors: .*header length \d+ exceeds the file size 20/,
  );

  const wide = tinyGanRecipe();
  wide.train.gan = { ...(wide.train.gan as NonNullable<typeof wide.train.gan>), ndf: 16 };
  await assert.rejects(
    async () => (await tinyGanTask(wide)).load(atK),
    /discriminator\.safetensors: model shape mismatch main\.0\.weight: expected \[16,1,4,4\], got \[8,1,4,4\]/,
  );
  await assert.rejects(
    async () => (await tinyGanTask(tinyGanRecipe(null))).load(atK),
    /holds discriminator\.safetensors but this run has the GAN loss off: resume with --gan-start 0 .*or delete the file/,
  );
});

/** What `fn` writes to stderr (it still goes through). */
async function captureStderr(fn: () => Promise<unknown>): Promise<string> {
  const write = process.stderr.write.bind(process.stderr);
  let out = '';
  process.stderr.write = ((s: string | Uint8Array) => {
    out += String(s);
    return write(s);
  }) as typeof process.stderr.write;
  try {
    await fn();
  } finally {
    process.stderr.write = write;
  }
  return out;
}
