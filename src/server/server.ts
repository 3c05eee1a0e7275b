// The local web UI behind `d2c serve`, on node:http alone:
//   GET  /              the page (src/web/index.html; its script /d2c-web.js is src/web/serve_page.ts,
//                       bundled when the server starts)
//   GET  /api/info      the model, its classes, sampling defaults and the request limits
//   POST /api/generate  JSON body {class, n, seed, stage1Cfg, stage2Cfg, steps} → by Accept:
//                       image/png (default) a PNG grid; application/json {grid, images, previews}
//                       as base64 PNGs; application/x-ndjson {queued} and {progress} lines, then
//                       {result} (or {error})
// Bad input answers 400 {error, field}. Generations run one at a time; the others wait in a FIFO
// queue (a stream reports `{"queued":{"position":N}}`, N = 1 runs next) and only a full queue
// answers 503 with Retry-After. A client that goes away leaves the queue, or stops its generation
// at the next sampling step.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { encodePng, makeGrid, type Uint8Batch } from '../data/png_encode.ts';
import { bundlePage, pageHtml } from '../export/web_page.ts';
import type { GenerateProgress } from '../pipeline/d2c.ts';
import type { Precision } from '../torch/autocast.ts';
import { CancelledError, type Generated, ModelHost, QueueFullError } from './model_host.ts';
import { type GenerateRequest, LIMITS, ParamError, parseGenerateRequest, toGenerateOptions } from './params.ts';
import type { ModelInfo } from './worker_protocol.ts';

export { ModelLoadError } from './model_host.ts';

export interface ServerOptions {
  /** D2C model folder. */
  model: string;
  /** 0: any free port. */
  port?: number;
  host?: string;
  /** Intra-op threads of the model's worker. */
  threads?: number;
  /** Requests that may wait behind the running generation (default 8). */
  maxQueue?: number;
  /** Where the model runs (cpu, cuda, cuda:N) and its sampling precision (default cpu, fp32). */
  device?: string;
  precision?: Precision;
  /** One line per generation and per server error (default: silent). */
  log?: (line: string) => void;
}

export interface RunningServer {
  url: string;
  info: ModelInfo;
  close(): Promise<void>;
  /** Test-only: the model worker exits (at the running generation's next step, or now). */
  exitModelWorkerForTest(): void;
}

/** `GET /api/info`. */
export type InfoResponse = ReturnType<typeof infoJson>;
/** `POST /api/generate` with Accept: application/json; NDJSON's last line is `{ result: GenerateResponse }`. */
export type GenerateResponse = Awaited<ReturnType<typeof resultJson>>;
/** Every refusal; `field` names the bad request field (400). */
export interface ErrorResponse {
  error: string;
  field?: string;
}

/** A request the server refuses with this status and `{error}`. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const MAX_BODY_BYTES = 16 * 1024;
const GRID_ROW = 8;

/** The page's two files, bundled once per process (the first server start waits for it). */
let pageFiles: Promise<{ html: Buffer; script: Uint8Array }> | null = null;
function page() {
  pageFiles ??= bundlePage('serve_page').then((script) => ({ html: pageHtml(), script }));
  return pageFiles;
}

function sendFile(req: IncomingMessage, res: ServerResponse, type: string, body: Uint8Array): void {
  res.writeHead(200, { 'content-type': type, 'content-length': body.length });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  // Requiring JSON also keeps other web pages from posting here: a cross-site JSON POST needs a
  // CORS preflight, which this server never grants.
  if (!/^application\/json\b/.test(req.headers['content-type'] ?? ''))
    throw new HttpError(415, 'POST /api/generate takes a JSON body (Content-Type: application/json)');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `the body is larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(c);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (e) {
    throw new ParamError('body', `the body is not valid JSON: ${(e as Error).message}`);
  }
}

type Format = 'png' | 'json' | 'stream';

function responseFormat(accept = ''): Format {
  if (accept.includes('application/x-ndjson')) return 'stream';
  if (accept.includes('application/json')) return 'json';
  return 'png';
}

async function pngs(batch: Uint8Batch): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < batch.count; i++) out.push((await encodePng(batch, i)).toString('base64'));
  return out;
}

async function resultJson(r: GenerateRequest, g: Generated, ms: number, info: ModelInfo) {
  return {
    classes: r.classes.map((c) => info.classes[c]),
    seed: r.seed,
    ms: Math.round(ms),
    grid: (await encodePng(makeGrid(g.images, { nrow: Math.min(GRID_ROW, r.n) }))).toString('base64'),
    images: await pngs(g.images),
    previews: g.preview ? await pngs(g.preview) : [],
  };
}

function infoJson(host: ModelHost) {
  return { ...host.info, limits: { ...LIMITS, maxSteps: host.info.maxSteps }, busy: host.busy, queue: host.queue };
}

async function generate(req: IncomingMessage, res: ServerResponse, host: ModelHost, log: (line: string) => void) {
  const r = parseGenerateRequest(await readJson(req), host.info);
  const format = responseFormat(req.headers.accept);
  // A client that goes away before its answer is complete cancels its request.
  const abort = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) abort.abort();
  });
  const t0 = performance.now();
  const finished = () => {
    const ms = performance.now() - t0;
    const names = [...new Set(r.classes.map((c) => host.info.classes[c]))].join(', ');
    log(`${r.n} images (${names}), seed ${r.seed}, in ${(ms / 1000).toFixed(1)} s`);
    return ms;
  };
  if (format !== 'stream') {
    const g = await host.generate(toGenerateOptions(r), { signal: abort.signal });
    const ms = finished();
    if (format === 'json') return sendJson(res, 200, await resultJson(r, g, ms, host.info));
    const png = await encodePng(makeGrid(g.images, { nrow: Math.min(GRID_ROW, r.n) }));
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': png.length, 'cache-control': 'no-store' });
    return res.end(png);
  }
  const line = (o: unknown) => {
    if (!res.headersSent)
      res.writeHead(200, { 'content-type': 'application/x-ndjson; charset=utf-8', 'cache-control': 'no-store' });
    if (!res.destroyed) res.write(`${JSON.stringify(o)}\n`);
  };
  // Until the request is queued or running, a full queue can still answer 503 before any line.
  const running = host.generate(toGenerateOptions(r), {
    signal: abort.signal,
    onQueued: (position) => line({ queued: { position } }),
    onProgress: (progress: GenerateProgress) => line({ progress }),
  });
  let result: unknown;
  try {
    result = { result: await resultJson(r, await running, finished(), host.info) };
  } catch (e) {
    if (e instanceof QueueFullError) throw e;
    if (e instanceof CancelledError) log(`cancelled: ${e.message}`);
    result = { error: (e as Error).message };
  }
  line(result);
  res.end();
}

async function route(req: IncomingMessage, res: ServerResponse, host: ModelHost, log: (line: string) => void) {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  const allow = (method: string) => {
    if (req.method !== method && !(method === 'GET' && req.method === 'HEAD')) {
      res.setHeader('allow', method === 'GET' ? 'GET, HEAD' : method);
      throw new HttpError(405, `${req.method} ${path} is not allowed (use ${method})`);
    }
  };
  switch (path) {
    case '/':
    case '/index.html':
      allow('GET');
      return sendFile(req, res, 'text/html; charset=utf-8', (await page()).html);
    case '/d2c-web.js':
      allow('GET');
      return sendFile(req, res, 'text/javascript; charset=utf-8', (await page()).script);
    case '/api/info':
      allow('GET');
      return sendJson(res, 200, infoJson(host));
    case '/api/generate':
      allow('POST');
      return generate(req, res, host, log);
    case '/favicon.ico':
      res.writeHead(204);
      return res.end();
    default:
      throw new HttpError(404, `not found: ${req.method} ${path}`);
  }
}

/** Every failure becomes a JSON answer: the server outlives any request. */
async function handle(req: IncomingMessage, res: ServerResponse, host: ModelHost, log: (line: string) => void) {
  res.on('error', () => {}); // a client that went away mid-answer
  try {
    await route(req, res, host, log);
  } catch (e) {
    const err = e as Error;
    const expected = e instanceof ParamError || e instanceof QueueFullError || e instanceof HttpError;
    if (e instanceof CancelledError) log(`cancelled: ${err.message}`);
    else if (!expected) log(`error on ${req.method} ${req.url}: ${err.stack ?? err.message}`);
    if (res.headersSent || res.destroyed) return void res.end();
    const body = (error: string, field?: string): ErrorResponse => ({ error, field });
    if (e instanceof ParamError) sendJson(res, 400, body(e.message, e.field));
    else if (e instanceof QueueFullError) {
      res.setHeader('retry-after', String(e.retryAfterS));
      sendJson(res, 503, body(e.message));
    } else if (e instanceof HttpError) sendJson(res, e.status, body(e.message));
    else sendJson(res, 500, body(err.message));
  }
}

function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      const what = e.code === 'EADDRINUSE' ? 'the port is in use' : e.message;
      reject(Object.assign(new Error(`cannot listen on ${host}:${port}: ${what}`), { code: e.code }));
    });
    server.listen(port, host, () => resolve(server.address() as AddressInfo));
  });
}

/** Loads the model (in its worker thread), then listens; resolves once both are ready. */
export async function startServer(o: ServerOptions): Promise<RunningServer> {
  const log = o.log ?? (() => {});
  await page();
  const host = await ModelHost.start({
    model: o.model,
    threads: o.threads ?? 1,
    device: o.device,
    precision: o.precision,
    maxQueue: o.maxQueue,
    log,
  });
  const server = createServer((req, res) => void handle(req, res, host, log));
  let address: AddressInfo;
  try {
    address = await listen(server, o.port ?? 7860, o.host ?? '127.0.0.1');
  } catch (e) {
    await host.close();
    throw e;
  }
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shown}:${address.port}/`,
    info: host.info,
    async close() {
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      await Promise.all([closed, host.close()]);
    },
    exitModelWorkerForTest: () => host.exitWorkerForTest(),
  };
}
