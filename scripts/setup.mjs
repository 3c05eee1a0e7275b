#!/usr/bin/env node
// One-step setup of a clone: npm packages, then libtorch and the native addon (scripts/install.mjs,
// which npm also runs as the package's install script). Safe and fast to re-run. Unlike an installed
// package, a clone's setup also apt-installs gloo's headers when it runs as root on Debian, so the
// tests of torch.distributed run.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { glooInclude, prepareNative } from './install.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const quiet = process.argv.includes('--quiet');
const log = (msg) => process.stderr.write(`[setup] ${msg}\n`);

function ensureNodeModules() {
  if (existsSync(join(root, 'node_modules', '.bin', 'tsx'))) return;
  log('installing npm packages');
  // onnxruntime-node bundles its CPU binaries; its install script would fetch the CUDA ones from nuget
  process.env.ONNXRUNTIME_NODE_INSTALL ??= 'skip';
  const r = spawnSync('npm', ['install', '--no-audit', '--no-fund'], { stdio: ['ignore', 'inherit', 'inherit'], cwd: root });
  if (r.status !== 0) throw new Error(`npm install failed with exit code ${r.status}`);
}

/** As root on Debian, apt-get installs libgloo-dev (once: a failure is only logged). */
function installGlooHeaders() {
  if (existsSync(join(glooInclude(), 'gloo', 'context.h'))) return;
  if (process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get') || process.env.D2C_NO_APT) return;
  log('installing libgloo-dev (gloo headers, for torch.distributed)');
  const r = spawnSync('apt-get', ['install', '-y', '-qq', 'libgloo-dev'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (r.status !== 0) log('apt-get install libgloo-dev failed: torch.distributed will be left out');
}

try {
  // gloo first: npm install runs the package's install script, which builds the addon with what it finds.
  installGlooHeaders();
  ensureNodeModules();
  prepareNative({ quiet });
} catch (e) {
  log(`setup failed: ${e.message}`);
  process.exit(1);
}
