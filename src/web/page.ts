// The one web page of d2c (src/web/index.html), behind `d2c serve` and `d2c export-web` alike: it
// fills the form from the model's description, checks it with the server's own rules
// (server/params.ts), shows progress, and draws each sample under its stage-1 coarse image. Where
// samples come from is the only difference: a `SampleSource` (serve_page.ts: the server's API;
// export_page.ts: ONNX Runtime in the browser). <body data-state> is loading → ready → running →
// done (or error), and every sample is a PNG data URL in `#results img.sample`, so scripts can
// drive the page.

import { type GenerateRequest, LIMITS, ParamError, parseGenerateRequest } from '../server/params.ts';
import type { ModelInfo } from '../server/worker_protocol.ts';
import { type PageEvent, progressFraction, statusText } from './progress.ts';

/** Samples as PNG data URLs; `grid` (when the source makes one) is offered for download. */
export interface PageResult {
  images: string[];
  previews: string[] | null;
  grid?: string;
}

export interface SampleSource {
  /** The model, and where samples are made ("on the server", "on wasm"); `say` reports loading. */
  describe(say: (text: string) => void): Promise<{ info: ModelInfo; where: string }>;
  generate(req: GenerateRequest, onEvent: (e: PageEvent) => Promise<void>): Promise<PageResult>;
}

/** The form's fields, as server/params.ts names them. */
const INPUTS = ['class', 'n', 'seed', 'stage1Cfg', 'stage2Cfg', 'steps', 'diffusionSteps'] as const;

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const input = (id: string) => $<HTMLInputElement>(id);
const setState = (s: string) => document.body.setAttribute('data-state', s);

function showError(message: string | null, field?: string): void {
  for (const f of document.querySelectorAll('.invalid')) f.classList.remove('invalid');
  $('error').hidden = message === null;
  $('error').textContent = message ?? '';
  if (field && (INPUTS as readonly string[]).includes(field)) $(field).classList.add('invalid');
}

function fillForm(info: ModelInfo, where: string): void {
  $('model').textContent =
    `${info.name}: ${info.imageSize}×${info.imageSize} images of ${info.classes.length} classes, stage-2 fusion ${info.fusion}, sampled ${where}`;
  info.classes.forEach((c, i) => {
    $<HTMLSelectElement>('class').add(new Option(`${i} · ${c}`, String(i)));
  });
  input('n').max = String(LIMITS.maxImages);
  $('n-range').textContent = `1 to ${LIMITS.maxImages}`;
  input('seed').max = String(LIMITS.maxSeed);
  input('stage1Cfg').value = String(info.defaults.stage1.cfg);
  input('stage2Cfg').value = String(info.defaults.stage2.cfg);
  for (const id of ['stage1Cfg', 'stage2Cfg']) input(id).max = String(LIMITS.maxCfg);
  input('steps').value = String(info.defaults.stage2.steps);
  input('steps').max = String(info.maxSteps);
  $('steps-range').textContent = `1 to ${info.maxSteps}`;
  input('diffusionSteps').value = String(info.defaults.stage2.diffusionSteps);
  for (const id of ['stage1-fields', 'coarse-field']) $(id).hidden = !info.hasStage1;
}

/** The checked request; a number input holding text the browser cannot read is reported by name. */
function readForm(info: ModelInfo): GenerateRequest {
  const body: Record<string, string> = {};
  for (const f of INPUTS) {
    const el = input(f);
    if (el.closest('[hidden]')) continue;
    if (el.validity?.badInput) throw new ParamError(f, `${f} must be a number`);
    if (el.value.trim() !== '') body[f] = el.value;
  }
  return parseGenerateRequest(body, info);
}

function image(src: string, className: string, alt: string): HTMLImageElement {
  const el = new Image();
  el.src = src;
  el.className = className;
  el.alt = alt;
  return el;
}

function showResult(r: PageResult, req: GenerateRequest, info: ModelInfo, seconds: number, where: string): void {
  const coarse = input('show-coarse').checked;
  const figures = r.images.map((src, i) => {
    const name = info.classes[req.classes[i]];
    const fig = document.createElement('figure');
    if (r.previews) fig.append(Object.assign(image(r.previews[i], 'coarse', `stage-1 coarse image ${i}`), { hidden: !coarse }));
    const caption = document.createElement('figcaption');
    caption.textContent = name;
    fig.append(image(src, 'sample', `sample ${i}: ${name}`), caption);
    return fig;
  });
  $('results').replaceChildren(...figures);
  $('timing').textContent =
    `${req.n} images in ${seconds.toFixed(2)} s ${where} (${(seconds / req.n).toFixed(2)} s per image), seed ${req.seed}`;
  if (r.grid) {
    const link = Object.assign(document.createElement('a'), { href: r.grid, download: `d2c-seed${req.seed}.png` });
    link.textContent = 'download the grid';
    $('timing').append(' · ', link);
  }
}

/** Shows the events; lets the browser paint now and then, since ONNX Runtime (wasm) holds the main thread. */
function eventShower(req: GenerateRequest, t0: number): (e: PageEvent) => Promise<void> {
  let lastPaint = performance.now();
  return async (e) => {
    if (e.kind === 'progress') $<HTMLProgressElement>('bar').value = progressFraction(e.progress, req.steps);
    $('status').textContent = statusText(e);
    $('elapsed').textContent = `(${((performance.now() - t0) / 1000).toFixed(1)} s)`;
    if (performance.now() - lastPaint > 100) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      lastPaint = performance.now();
    }
  };
}

async function generate(source: SampleSource, info: ModelInfo, where: string): Promise<void> {
  showError(null);
  let req: GenerateRequest;
  try {
    req = readForm(info);
  } catch (e) {
    if (e instanceof ParamError) return showError(e.message, e.field);
    throw e;
  }
  $<HTMLButtonElement>('generate').disabled = true;
  setState('running');
  $('progress').hidden = false;
  $<HTMLProgressElement>('bar').value = 0;
  $('status').textContent = 'starting…';
  const t0 = performance.now();
  try {
    const r = await source.generate(req, eventShower(req, t0));
    showResult(r, req, info, (performance.now() - t0) / 1000, where);
    setState('done');
  } catch (e) {
    const field = e instanceof ParamError ? e.field : undefined;
    showError(`generation failed: ${(e as Error).message}`, field);
    setState('error');
  } finally {
    $('progress').hidden = true;
    $<HTMLButtonElement>('generate').disabled = false;
  }
}

/** Runs the page with `source`; errors while loading are shown in place of the model's description. */
export async function startPage(source: SampleSource): Promise<void> {
  window.addEventListener('unhandledrejection', (e) => {
    showError(String((e.reason as Error)?.message ?? e.reason));
    setState('error');
  });
  try {
    const { info, where } = await source.describe((text) => {
      $('model').textContent = text;
    });
    fillForm(info, where);
    $('form').addEventListener('submit', (event) => {
      event.preventDefault();
      void generate(source, info, where);
    });
    $('show-coarse').addEventListener('change', () => {
      for (const img of document.querySelectorAll<HTMLImageElement>('#results img.coarse'))
        img.hidden = !input('show-coarse').checked;
    });
    $('random-seed').addEventListener('click', () => {
      input('seed').value = String(Math.floor(Math.random() * 2 ** 31));
    });
    $<HTMLButtonElement>('generate').disabled = false;
    setState('ready');
  } catch (e) {
    $('model').textContent = `The model could not be loaded: ${(e as Error).message}`;
    showError((e as Error).message);
    setState('error');
  }
}
