// The static page of `d2c export-web` (bundled by esbuild into d2c-web.js): loads the ONNX graphs
// with ONNX Runtime Web (WebGPU when the browser has an adapter, else wasm; `?backend=wasm`
// forces one), checks the form with d2c serve's own rules (server/params.ts), samples with
// WebSampler, and shows each image under its stage-1 coarse preview. <body data-state> is
// loading → ready → running → done (or error), and every result is a PNG data URL in #results img,
// so scripts can drive the page.
import * as ort from 'onnxruntime-web';
import type { WebManifest } from '../export/manifest.ts';
import { respacedSchedule } from '../generators/schedules.ts';
import type { ModelInfo } from '../server/model_worker.ts';
import { FIELDS, LIMITS, ParamError, parseGenerateRequest, toGenerateOptions } from '../server/params.ts';
import { type WebProgress, WebSampler } from './sampler.ts';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const state = (s: string) => document.body.setAttribute('data-state', s);

function showError(message: string, field?: string): void {
  const el = $('error');
  el.textContent = message;
  el.hidden = false;
  for (const f of document.querySelectorAll('.invalid')) f.classList.remove('invalid');
  if (field) $(field)?.classList.add('invalid');
}

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
  try {
    return JSON.parse(text) as WebManifest;
  } catch {
    throw new Error('model/manifest.json is not valid JSON (a corrupt or partial export?)');
  }
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

async function loadSampler(m: WebManifest): Promise<{ sampler: WebSampler; backend: string }> {
  ort.env.wasm.wasmPaths = new URL('ort/', location.href).href;
  let loaded = 0;
  const total = Object.keys(m.graphs).length;
  const load = async (file: string) => {
    $('model').textContent = `Loading the model: ${file} (${++loaded} of ${total})…`;
    return fetchBytes(`model/${file}`);
  };
  const backend = await chooseBackend();
  try {
    return { sampler: await WebSampler.create(ort, m, load, { executionProviders: [backend] }), backend };
  } catch (e) {
    if (backend === 'wasm') throw e;
    loaded = 0; // WebGPU refused a graph: fall back to wasm
    return { sampler: await WebSampler.create(ort, m, load, { executionProviders: ['wasm'] }), backend: 'wasm (WebGPU failed)' };
  }
}

/** A PNG data URL of image b of a [B, C, H, W] batch in [−1, 1], drawn through a canvas. */
function toCanvas(data: Float32Array, shape: number[], b: number): HTMLCanvasElement {
  const [, C, H, W] = shape;
  const canvas = document.createElement('canvas');
  canvas.width = W;
  canvas.height = H;
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('this browser gives no 2-D canvas');
  const img = ctx.createImageData(W, H);
  const px = (c: number, i: number) => Math.round(((data[(b * C + c) * H * W + i] + 1) / 2) * 255);
  for (let i = 0; i < H * W; i++) {
    const [r, g, bl] = C === 1 ? [px(0, i), px(0, i), px(0, i)] : [px(0, i), px(1, i), px(2, i)];
    img.data.set([r, g, bl, 255], i * 4);
  }
  ctx.putImageData(img, 0, 0);
  return canvas;
}

/** The diffusion head's steps when none is asked for: d2c.json's, else the length of the config's respacing. */
function defaultDiffusionSteps(m: WebManifest): number {
  const given = (m.model.stage2 as { diffusionSteps?: number }).diffusionSteps;
  return given ?? respacedSchedule(m.stage2.numSamplingSteps, m.stage2.numTimesteps).timestepMap.length;
}

function progressText(p: WebProgress): string {
  if (p.stage === 'stage1') return `stage 1: code ${p.step} of ${p.total}`;
  if (p.stage === 'stage2') return `stage 2: step ${p.step} of ${p.total}`;
  return 'decoding';
}

async function main(): Promise<void> {
  if (typeof WebAssembly !== 'object') throw new Error('This browser has no WebAssembly, which ONNX Runtime Web needs.');
  const m = await loadManifest();
  if (m.format !== 'd2c-onnx/1') throw new Error(`model/manifest.json: unknown format ${JSON.stringify(m.format)}`);
  const { sampler, backend } = await loadSampler(m);
  const one = m.stage1;
  // d2c serve's description of a model; `as`: newer d2c adds fields (hasStage1, diffusion steps) the page fills too
  const info = {
    name: m.model.name,
    classes: m.model.classes,
    imageSize: m.model.imageSize,
    channels: m.model.channels,
    fusion: m.stage2.fusion,
    maxSteps: m.stage2.seqLen,
    hasStage1: one !== null,
    defaults: {
      stage1: m.model.stage1 ?? { cfg: 1, temperature: 1, topK: 0, topP: 1 },
      stage2: { ...m.model.stage2, diffusionSteps: defaultDiffusionSteps(m) },
    },
  } as ModelInfo;
  $('model').textContent =
    `${info.name}: ${info.imageSize}×${info.imageSize} images of ${info.classes.length} classes, fusion ${info.fusion}, running on ${backend}`;
  const select = $<HTMLSelectElement>('class');
  info.classes.forEach((c, i) => {
    select.add(new Option(c, String(i)));
  });
  $<HTMLInputElement>('stage1Cfg').value = String(info.defaults.stage1.cfg);
  $<HTMLInputElement>('stage2Cfg').value = String(info.defaults.stage2.cfg);
  $<HTMLInputElement>('steps').value = String(info.defaults.stage2.steps);
  $<HTMLInputElement>('diffusionSteps').value = String(defaultDiffusionSteps(m));
  // the diffusion-steps field counts only where d2c serve's request has it
  $('diffusionSteps-field').hidden = !(FIELDS as readonly string[]).includes('diffusionSteps');
  if (!one) {
    for (const id of ['stage1-fields', 'coarse-field']) $(id).hidden = true;
  }
  $('n-range').textContent = `1..${LIMITS.maxImages}`;
  $('steps-range').textContent = `1..${info.maxSteps}`;
  $('random-seed').addEventListener('click', () => {
    $<HTMLInputElement>('seed').value = String(Math.floor(Math.random() * 2 ** 31));
  });
  $('show-coarse').addEventListener('change', () => {
    const show = $<HTMLInputElement>('show-coarse').checked;
    for (const c of document.querySelectorAll<HTMLCanvasElement>('#results canvas')) c.hidden = !show;
  });
  const button = $<HTMLButtonElement>('generate');
  $('form').addEventListener('submit', async (event) => {
    event.preventDefault();
    $('error').hidden = true;
    const fields = FIELDS.filter((f) => document.getElementById(f) && !document.getElementById(`${f}-field`)?.hidden);
    const body = Object.fromEntries(fields.map((f) => [f, $<HTMLInputElement>(f).value]).filter(([, v]) => v !== ''));
    let req: ReturnType<typeof parseGenerateRequest>;
    try {
      req = parseGenerateRequest(body, info);
    } catch (e) {
      if (e instanceof ParamError) return showError(e.message, e.field);
      throw e;
    }
    for (const f of document.querySelectorAll('.invalid')) f.classList.remove('invalid');
    button.disabled = true;
    state('running');
    $('progress').hidden = false;
    const t0 = performance.now();
    try {
      const o = toGenerateOptions(req);
      // stage 1 counts as two steps of stage 2 on the bar; decoding as one
      const total = req.steps + 3;
      let lastPaint = performance.now();
      const r = await sampler.generate({ ...o, seed: req.seed }, async (p) => {
        const done = p.stage === 'stage1' ? (2 * p.step) / p.total : p.stage === 'stage2' ? 2 + p.step : total;
        $<HTMLProgressElement>('bar').value = done / total;
        $('status').textContent = progressText(p);
        $('elapsed').textContent = `${((performance.now() - t0) / 1000).toFixed(1)} s`;
        // ONNX Runtime (wasm) holds the main thread: let the browser paint the bar now and then
        if (performance.now() - lastPaint > 100) {
          await new Promise((resolve) => setTimeout(resolve, 0));
          lastPaint = performance.now();
        }
      });
      const seconds = (performance.now() - t0) / 1000;
      const results = $('results');
      results.replaceChildren();
      const show = $<HTMLInputElement>('show-coarse').checked;
      req.classes.forEach((c, b) => {
        const fig = document.createElement('figure');
        if (r.previews) {
          const coarse = toCanvas(r.previews, r.shape, b);
          coarse.hidden = !show;
          coarse.title = 'stage-1 coarse image (VQ-decoded codes)';
          fig.append(coarse);
        }
        const img = document.createElement('img');
        img.className = 'sample';
        img.alt = info.classes[c];
        img.src = toCanvas(r.images, r.shape, b).toDataURL('image/png');
        const cap = document.createElement('figcaption');
        cap.textContent = info.classes[c];
        fig.append(img, cap);
        results.append(fig);
      });
      $('timing').textContent =
        `${req.n} images in ${seconds.toFixed(2)} s on ${backend} (${(seconds / req.n).toFixed(2)} s per image), seed ${req.seed}`;
      state('done');
    } catch (e) {
      showError(`generation failed: ${(e as Error).message}`);
      state('error');
    } finally {
      $('progress').hidden = true;
      button.disabled = false;
    }
  });
  button.disabled = false;
  state('ready');
}

window.addEventListener('unhandledrejection', (e) => {
  showError(String((e.reason as Error)?.message ?? e.reason));
  state('error');
});
main().catch((e: Error) => {
  $('model').textContent = `The model could not be loaded: ${e.message}`;
  showError(e.message);
  state('error');
});
