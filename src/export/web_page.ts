// The one web page (src/web/index.html + src/web/page.ts) as the two commands ship it: esbuild
// bundles an entry that picks where samples come from, `serve_page.ts` (the server's API, for
// `d2c serve`) or `export_page.ts` (ONNX Runtime Web, for `d2c export-web`), into d2c-web.js.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const WEB = join(dirname(fileURLToPath(import.meta.url)), '..', 'web');

export const PAGE_HTML = join(WEB, 'index.html');

export type PageEntry = 'serve_page' | 'export_page' | 'isolation_sw';

/** The page's script for `entry`, bundled and minified (the service worker as a classic script). */
export async function bundlePage(entry: PageEntry): Promise<Uint8Array> {
  const r = await build({
    entryPoints: [join(WEB, `${entry}.ts`)],
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

export function pageHtml(): Buffer {
  return readFileSync(PAGE_HTML);
}
