// `d2c export-web`: a self-contained static site that samples the model in the visitor's browser.
//   index.html, d2c-web.js (src/web/export_page.ts bundled by esbuild with onnxruntime-web),
//   coi-sw.js (src/web/isolation_sw.ts: the service worker that isolates the page, for wasm threads),
//   ort/ (ONNX Runtime Web's WebAssembly build with its WebGPU support), model/ (`d2c export`).
// Any static file server can serve it: the page fetches only these files.
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../io/atomic_file.ts';
import type { D2C } from '../pipeline/d2c.ts';
import { type ExportOptions, exportOnnx } from './export_onnx.ts';
import type { WebManifest } from './manifest.ts';
import { resolveOptional } from './optional.ts';
import { bundlePage, PAGE_HTML } from './web_page.ts';

/** ONNX Runtime Web's files the bundled build fetches at run time (its WebGPU + wasm "jsep" build). */
export function ortRuntimeFiles(): string[] {
  const dist = dirname(resolveOptional('onnxruntime-web'));
  return readdirSync(dist)
    .filter((f) => /^ort-wasm-simd-threaded\.jsep\.(wasm|mjs)$/.test(f))
    .map((f) => join(dist, f));
}

export async function exportWeb(d2c: D2C, outDir: string, o: ExportOptions = {}): Promise<WebManifest> {
  // The optional packages (onnxruntime-web, esbuild) fail here, before minutes of tracing.
  const files = ortRuntimeFiles();
  if (files.length < 2) throw new Error('onnxruntime-web has no ort-wasm-simd-threaded.jsep.{wasm,mjs}: reinstall it');
  const script = await bundlePage('export_page');
  const manifest = exportOnnx(d2c, join(outDir, 'model'), o);
  writeFileAtomic(join(outDir, 'd2c-web.js'), script);
  writeFileAtomic(join(outDir, 'coi-sw.js'), await bundlePage('isolation_sw'));
  writeFileAtomic(join(outDir, 'index.html'), readFileSync(PAGE_HTML));
  const ortDir = join(outDir, 'ort');
  mkdirSync(ortDir, { recursive: true });
  for (const f of files) writeFileAtomic(join(ortDir, f.split('/').pop() as string), readFileSync(f));
  o.log?.(`d2c-web.js, coi-sw.js, index.html, ort/ (${files.length} files) written`);
  return manifest;
}
