// `d2c export-web`: a self-contained static site that samples the model in the visitor's browser.
//   index.html, d2c-web.js (src/web/page.ts bundled by esbuild with onnxruntime-web),
//   ort/ (ONNX Runtime Web's WebAssembly build with its WebGPU support), model/ (`d2c export`).
// Any static file server can serve it: the page fetches only these files.
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as esbuild from 'esbuild';
import type { D2C } from '../pipeline/d2c.ts';
import { type ExportOptions, exportOnnx } from './export_onnx.ts';
import type { WebManifest } from './manifest.ts';
import { requireOptional, resolveOptional } from './optional.ts';

const WEB = join(dirname(fileURLToPath(import.meta.url)), '..', 'web');
/** The page's entry: its source beside the sources, its compiled JavaScript in the package's dist/. */
const PAGE = join(WEB, import.meta.url.endsWith('.ts') ? 'page.ts' : 'page.js');

/** ONNX Runtime Web's files the bundled build fetches at run time (its WebGPU + wasm "jsep" build). */
export function ortRuntimeFiles(): string[] {
  const dist = dirname(resolveOptional('onnxruntime-web'));
  return readdirSync(dist)
    .filter((f) => /^ort-wasm-simd-threaded\.jsep\.(wasm|mjs)$/.test(f))
    .map((f) => join(dist, f));
}

export async function exportWeb(d2c: D2C, outDir: string, o: ExportOptions = {}): Promise<WebManifest> {
  const { build } = requireOptional<typeof esbuild>('esbuild');
  resolveOptional('onnxruntime-web');
  const manifest = exportOnnx(d2c, join(outDir, 'model'), o);
  await build({
    entryPoints: [PAGE],
    outfile: join(outDir, 'd2c-web.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
  });
  copyFileSync(join(WEB, 'index.html'), join(outDir, 'index.html'));
  const ortDir = join(outDir, 'ort');
  mkdirSync(ortDir, { recursive: true });
  const files = ortRuntimeFiles();
  if (files.length < 2) throw new Error('onnxruntime-web has no ort-wasm-simd-threaded.jsep.{wasm,mjs}: reinstall it (npm ci)');
  for (const f of files) copyFileSync(f, join(ortDir, f.split('/').pop() as string));
  o.log?.(`d2c-web.js, index.html, ort/ (${files.length} files) written`);
  return manifest;
}
