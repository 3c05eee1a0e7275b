// The page of `d2c export-web` (bundled by esbuild with onnxruntime-web into d2c-web.js): samples
// are made in the browser by ONNX Runtime Web over the exported graphs (WebGPU when the browser has
// an adapter, else wasm; `?backend=wasm` forces one), by WebSampler. The wasm backend runs on every
// core once the page is cross-origin isolated (isolation.ts; `?threads=N` sets the count).
import * as ort from 'onnxruntime-web';
import type { WebManifest } from '../export/manifest.ts';
import { respacedSchedule } from '../generators/schedules.ts';
import { type GenerateRequest, toGenerateOptions } from '../server/params.ts';
import type { ModelInfo } from '../server/worker_protocol.ts';
import { crossOriginIsolation, wasmThreads } from './isolation.ts';
import { type PageResult, type SampleSource, startPage } from './page.ts';
import type { PageEvent } from './progress.ts';
import { WebSampler } from './sampler.ts';

async function fetchBytes(path: string): Promise<Uint8Array> {
  let r: Response;
  try {
    r = await fetch(path);
  } catch (e) {
    throw new Error(`could not fetch ${path}: ${(e as Error).message}`);
  }
  if (!r.ok) throw new Error(`could not fetch ${path}: HTTP ${r.status} (is the export complete?)`);
  return new Uint8Array(await r.arrayBuffer());
}

async function loadManifest(): Promise<WebManifest> {
  const text = new TextDecoder().decode(await fetchBytes('model/manifest.json'));
  let m: WebManifest;
  try {
    m = JSON.parse(text) as WebManifest;
  } catch {
    throw new Error('model/manifest.json is not valid JSON (a corrupt or partial export?)');
  }
  if (m.format !== 'd2c-onnx/1') throw new Error(`model/manifest.json: unknown format ${JSON.stringify(m.format)}`);
  return m;
}

async function chooseBackend(): Promise<'webgpu' | 'wasm'> {
  const forced = new URLSearchParams(location.search).get('backend');
  if (forced === 'wasm' || forced === 'webgpu') return forced;
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  if (!gpu) return 'wasm';
  try {
    return (await gpu.requestAdapter()) ? 'webgpu' : 'wasm';
  } catch {
    return 'wasm';
  }
}

async function loadSampler(m: WebManifest, say: (text: string) => void): Promise<{ sampler: WebSampler; backend: string }> {
  ort.env.wasm.wasmPaths = new URL('ort/', location.href).href;
  const threads = wasmThreads(await crossOriginIsolation());
  ort.env.wasm.numThreads = threads;
  const wasm = `wasm, ${threads} thread${threads === 1 ? '' : 's'}`;
  let loaded = 0;
  const total = Object.keys(m.graphs).length;
  const load = async (file: string) => {
    say(`Loading the model: ${file} (${++loaded} of ${total})…`);
    return fetchBytes(`model/${file}`);
  };
  const backend = await chooseBackend();
  try {
    const sampler = await WebSampler.create(ort, m, load, { executionProviders: [backend] });
    return { sampler, backend: backend === 'wasm' ? wasm : backend };
  } catch (e) {
    if (backend === 'wasm') throw e;
    loaded = 0; // WebGPU refused a graph: fall back to wasm
    return {
      sampler: await WebSampler.create(ort, m, load, { executionProviders: ['wasm'] }),
      backend: `${wasm} (WebGPU failed)`,
    };
  }
}

/** What d2c serve's `GET /api/info` says of the same model. */
function modelInfo(m: WebManifest): ModelInfo {
  // the diffusion head's steps when d2c.json gives none: the length of the config's respacing
  const diffusionSteps =
    (m.model.stage2 as { diffusionSteps?: number }).diffusionSteps ??
    respacedSchedule(m.stage2.numSamplingSteps, m.stage2.numTimesteps).timestepMap.length;
  return {
    name: m.model.name,
    classes: m.model.classes,
    imageSize: m.model.imageSize,
    channels: m.model.channels,
    fusion: m.stage2.fusion,
    maxSteps: m.stage2.seqLen,
    hasStage1: m.stage1 !== null,
    defaults: {
      stage1: m.model.stage1 ?? { cfg: 1, temperature: 1, topK: 0, topP: 1 },
      stage2: { ...m.model.stage2, diffusionSteps },
    },
  } as ModelInfo;
}

/** Image b of a [B, C, H, W] batch in [−1, 1] as a PNG data URL, drawn through a canvas. */
function toPng(data: Float32Array, shape: number[], b: number): string {
  const [, C, H, W] = shape;
  const canvas = Object.assign(document.createElement('canvas'), { width: W, height: H });
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('this browser gives no 2-D canvas');
  const img = ctx.createImageData(W, H);
  const px = (c: number, i: number) => Math.round(((data[(b * C + c) * H * W + i] + 1) / 2) * 255);
  for (let i = 0; i < H * W; i++) {
    const [r, g, bl] = C === 1 ? [px(0, i), px(0, i), px(0, i)] : [px(0, i), px(1, i), px(2, i)];
    img.data.set([r, g, bl, 255], i * 4);
  }
  ctx.putImageData(img, 0, 0);
  return canvas.toDataURL('image/png');
}

function onnxSource(): SampleSource {
  let sampler: WebSampler;
  return {
    async describe(say) {
      if (typeof WebAssembly !== 'object') throw new Error('This browser has no WebAssembly, which ONNX Runtime Web needs.');
      const m = await loadManifest();
      const loaded = await loadSampler(m, say);
      sampler = loaded.sampler;
      return { info: modelInfo(m), where: `on ${loaded.backend}` };
    },
    async generate(req: GenerateRequest, onEvent: (e: PageEvent) => Promise<void>): Promise<PageResult> {
      const r = await sampler.generate({ ...toGenerateOptions(req), seed: req.seed }, (progress) =>
        onEvent({ kind: 'progress', progress }),
      );
      const images = req.classes.map((_, b) => toPng(r.images, r.shape, b));
      const previews = r.previews ? req.classes.map((_, b) => toPng(r.previews as Float32Array, r.shape, b)) : null;
      return { images, previews };
    },
  };
}

void startPage(onnxSource());
