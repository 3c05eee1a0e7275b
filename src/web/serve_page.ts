// The page of `d2c serve` (bundled by esbuild into /d2c-web.js when the server starts): samples come
// from the server's API, `GET /api/info` and a streamed `POST /api/generate`.

import { type GenerateRequest, ParamError } from '../server/params.ts';
import type { ErrorResponse, GenerateResponse } from '../server/server.ts';
import type { ModelInfo } from '../server/worker_protocol.ts';
import { type PageResult, startPage } from './page.ts';
import { type PageEvent, readStreamLine } from './progress.ts';

const png = (b64: string) => `data:image/png;base64,${b64}`;

async function describe(): Promise<{ info: ModelInfo; where: string }> {
  const res = await fetch('api/info');
  if (!res.ok) throw new Error(`GET /api/info: ${res.status} ${res.statusText}`);
  return { info: (await res.json()) as ModelInfo, where: 'on the server' };
}

/** The request as the API takes it: one class for all (the same images as every class in turn when they agree). */
function requestBody(req: GenerateRequest): object {
  const { classes, n, seed, stage1Cfg, stage2Cfg, steps, diffusionSteps } = req;
  const cls = classes.every((c) => c === classes[0]) ? { class: classes[0] } : {};
  return { ...cls, n, seed, stage1Cfg, stage2Cfg, steps, diffusionSteps };
}

function pageResult(r: GenerateResponse): PageResult {
  return { images: r.images.map(png), previews: r.previews.length ? r.previews.map(png) : null, grid: png(r.grid) };
}

async function generate(req: GenerateRequest, onEvent: (e: PageEvent) => Promise<void>): Promise<PageResult> {
  const res = await fetch('api/generate', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/x-ndjson' },
    body: JSON.stringify(requestBody(req)),
  });
  if (!res.ok || !res.body) {
    const e = (await res.json().catch(() => ({ error: `${res.status} ${res.statusText}` }))) as ErrorResponse;
    throw e.field ? new ParamError(e.field, e.error) : new Error(e.error);
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error('the server closed the stream before the result');
    buf += value;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = readStreamLine<GenerateResponse>(buf.slice(0, i));
      buf = buf.slice(i + 1);
      if ('event' in line) await onEvent(line.event);
      else if ('error' in line) throw new Error(line.error);
      else return pageResult(line.result);
    }
  }
}

void startPage({ describe, generate });
