// bf16 sampling of the shipped model scores like fp32: FID-FMNIST at n = 1000 of `d2c eval
// --precision bf16` against fp32 at the same seed differs by no more than fp32 does between two
// seeds (twice that, as one seed pair is itself a noisy measure of the noise).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { d2cInProcess } from './helpers/cli_in_process.ts';

const root = mkdtempSync(join(tmpdir(), 'd2c-eval-bf16-'));
after(() => rmSync(root, { recursive: true, force: true }));

async function fid(name: string, ...args: string[]): Promise<number> {
  const out = join(root, name);
  const r = await d2cInProcess('eval', '--n', '1000', '--threads', '1', '--out', out, ...args);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { metrics: { fid_fmnist: number } };
  return report.metrics.fid_fmnist;
}

test('FID-FMNIST at n = 1000: bf16 sampling is within the seed noise of fp32', async () => {
  const fp32 = await fid('fp32', '--seed', '0');
  const otherSeed = await fid('fp32-seed100', '--seed', '100');
  const bf16 = await fid('bf16', '--seed', '0', '--precision', 'bf16');
  const noise = Math.abs(otherSeed - fp32);
  process.stderr.write(
    `FID-FMNIST n=1000: fp32 ${fp32.toFixed(3)} (seed 100: ${otherSeed.toFixed(3)}), bf16 ${bf16.toFixed(3)}\n`,
  );
  assert.ok(Math.abs(bf16 - fp32) <= 2 * noise, `bf16 ${bf16} vs fp32 ${fp32}: more than twice the seed noise ${noise}`);
});
