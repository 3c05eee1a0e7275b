#!/usr/bin/env node
// Builds the package's dist/ (npm run build; npm pack runs it as prepack): tsc emits src/ as
// JavaScript with declarations in the same folder layout, then the page's entries (DOM types), the
// non-TypeScript files the code reads beside itself, and the page's bundles that `d2c serve` sends
// (so the installed package needs no esbuild for it).
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
/** Files read at run time from beside their module. */
const ASSETS = ['web/index.html'];

rmSync(dist, { recursive: true, force: true });
for (const project of ['tsconfig.build.json', 'tsconfig.build-web.json']) {
  const r = spawnSync(process.execPath, [tsc, '-p', project], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write(`build: tsc -p ${project} failed\n`);
    process.exit(1);
  }
}
for (const a of ASSETS) copyFileSync(join(root, 'src', a), join(dist, a));
const { writePrebuiltPages } = await import(pathToFileURL(join(dist, 'export', 'web_page.js')).href);
await writePrebuiltPages();
chmodSync(join(dist, 'cli', 'main.js'), 0o755);
process.stderr.write('build: dist/ written\n');
