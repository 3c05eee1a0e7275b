// The one web page (src/web/index.html + src/web/page.ts) as the two commands ship it: esbuild
// bundles an entry that picks where samples come from, `serve_page.ts` (the server's API, for
// `d2c serve`) or `export_page.ts` (ONNX Runtime Web, for `d2c export-web`), into d2c-web.js.
// The package bundles the entries that import nothing outside d2c when it is built (`npm run
// build`), so `d2c serve` needs no esbuild; `export-web` bundles at run time, against the
// onnxruntime-web whose wasm files it copies beside the bundle.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as esbuild from 'esbuild';
import { COMPILED, runnableUrl } from '../data/compiled.ts';
import { requireOptional } from './optional.ts';

const WEB = join(dirname(fileURLToPath(import.meta.url)), '..', 'web');

export const PAGE_HTML = join(WEB, 'index.html');

export type PageEntry = 'serve_page' | 'export_page' | 'isolation_sw';

/** The entries bundled into dist/web/ at build time. */
const PREBUILT: readonly PageEntry[] = ['serve_page', 'isolation_sw'];
const prebuiltFile = (entry: PageEntry) => join(WEB, `${entry}.bundle.js`);

/** The page's script for `entry`, bundled and minified (the service worker as a classic script). */
export async function bundlePage(entry: PageEntry): Promise<Uint8Array> {
  if (COMPILED && PREBUILT.includes(entry) && existsSync(prebuiltFile(entry))) return readFileSync(prebuiltFile(entry));
  return bundleNow(entry);
}

async function bundleNow(entry: PageEntry): Promise<Uint8Array> {
  const { build } = requireOptional<typeof esbuild>('esbuild');
  const r = await build({
    entryPoints: [fileURLToPath(runnableUrl(new URL(`../web/${entry}.ts`, import.meta.url)))],
    write: false,
    bundle: true,
    format: entry === 'isolation_sw' ? 'iife' : 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
  });
  return r.outputFiles[0].contents;
}

/** Writes the prebuilt bundles beside the compiled page (scripts/build.mjs, from dist/). */
export async function writePrebuiltPages(): Promise<void> {
  for (const entry of PREBUILT) writeFileSync(prebuiltFile(entry), await bundleNow(entry));
}

export function pageHtml(): Buffer {
  return readFileSync(PAGE_HTML);
}
