// The web UI's JSON API (`d2c serve`), in-process on a free port with the shipped model: info,
// seeded PNGs, the three response formats, 400s that name the bad field, one generation at a time
// (the queue's own tests: server_queue.test.ts).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import {
  type ErrorResponse,
  type GenerateResponse,
  type InfoResponse,
  type RunningServer,
  startServer,
} from '../src/server/server.ts';

const MODEL = new URL('../models/d2c-fmnist', import.meta.url).pathname;
let server: RunningServer;

before(async () => {
  server = await startServer({ model: MODEL, port: 0, threads: 1 });
});
after(() => server.close());

function post(body: unknown, accept?: string): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (accept) headers.accept = accept;
  return fetch(new URL('api/generate', server.url), { method: 'POST', headers, body: JSON.stringify(body) });
}

const error = async (res: Response) => (await res.json()) as ErrorResponse;

async function pngBytes(body: unknown): Promise<Buffer> {
  const res = await post(body);
  assert.equal(res.status, 200, await res.clone().text());
  assert.equal(res.headers.get('content-type'), 'image/png');
  return Buffer.from(await res.arrayBuffer());
}

test('GET /api/info: the model, its classes and d2c.json defaults', async () => {
  const res = await fetch(new URL('api/info', server.url));
  assert.equal(res.status, 200);
  const info = (await res.json()) as InfoResponse;
  assert.equal(info.name, 'd2c-fmnist');
  assert.equal(info.classes.length, 10);
  assert.equal(info.classes[7], 'Sneaker');
  assert.equal(info.imageSize, 32);
  // The API reports the folder's d2c.json defaults as they are.
  const shipped = JSON.parse(readFileSync(join(MODEL, 'd2c.json'), 'utf8'));
  assert.deepEqual(info.defaults.stage1, shipped.stage1);
  assert.deepEqual(info.defaults.stage2, shipped.stage2);
  assert.equal(info.limits.maxSteps, 64);
  assert.equal(info.busy, false);
  assert.deepEqual(info.queue, { waiting: 0, max: 8 });
});

test('GET /: the page', async () => {
  const res = await fetch(server.url);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
  assert.match(await res.text(), /<button id="generate"/);
});

test('POST /api/generate: a PNG grid of the right size; the same seed gives the same bytes', async () => {
  const a = await pngBytes({ class: 'sneaker', n: 2, seed: 5 });
  const meta = await sharp(a).metadata();
  // Two 32×32 images in one row with torchvision's 2-pixel padding: 2·(32+2)+2 × 32+2·2.
  assert.deepEqual([meta.format, meta.width, meta.height, meta.channels], ['png', 70, 36, 1]);
  const b = await pngBytes({ class: 7, n: 2, seed: 5 });
  assert.ok(a.equals(b), 'same class and seed, different bytes');
  const c = await pngBytes({ class: 7, n: 2, seed: 6 });
  assert.ok(!a.equals(c), 'another seed gave the same bytes');
});

test('Accept: application/json gives base64 PNGs of each image and its stage-1 preview', async () => {
  const res = await post({ class: 'Bag', n: 2, seed: 1, steps: 2, diffusionSteps: 5 }, 'application/json');
  assert.equal(res.status, 200);
  const r = (await res.json()) as GenerateResponse;
  assert.deepEqual(r.classes, ['Bag', 'Bag']);
  assert.equal(r.seed, 1);
  assert.equal(r.images.length, 2);
  assert.equal(r.previews.length, 2);
  for (const b64 of [...r.images, ...r.previews]) {
    const m = await sharp(Buffer.from(b64, 'base64')).metadata();
    assert.deepEqual([m.format, m.width, m.height], ['png', 32, 32]);
  }
  assert.equal((await sharp(Buffer.from(r.grid, 'base64')).metadata()).width, 70);
});

test('the speed options: a deterministic solver with annealed steps gives the same bytes for a seed, others for ancestral', async () => {
  const fast = { class: 'Bag', n: 2, seed: 3, steps: 2, diffusionSteps: 4, finalDiffusionSteps: 2 };
  const a = await pngBytes({ ...fast, diffusionSampler: 'dpm-solver++' });
  const b = await pngBytes({ ...fast, diffusionSampler: 'dpm-solver++' });
  assert.ok(a.equals(b), 'same options and seed, different bytes');
  const c = await pngBytes({ ...fast, diffusionSampler: 'ancestral' });
  assert.ok(!a.equals(c), 'the sampler field changed nothing');
  const d = await pngBytes({ ...fast, diffusionSampler: 'dpm-solver++', headPrecision: 'bf16' });
  const e = await pngBytes({ ...fast, diffusionSampler: 'dpm-solver++', headPrecision: 'fp32' });
  assert.ok(!d.equals(e), 'headPrecision changed nothing');
  const f = await pngBytes({ ...fast, headGuidance: 'cfg' });
  const g = await pngBytes({ ...fast, headGuidance: 'distilled' });
  assert.ok(!f.equals(g), 'headGuidance changed nothing');
});

test('Accept: application/x-ndjson streams progress, then the result', async () => {
  const res = await post({ n: 2, seed: 2, steps: 3 }, 'application/x-ndjson');
  assert.equal(res.status, 200);
  const lines = (await res.text())
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { progress?: { stage: string; step: number; total: number }; result?: GenerateResponse });
  const stages = lines.flatMap((l) => (l.progress ? [`${l.progress.stage}:${l.progress.step}/${l.progress.total}`] : []));
  assert.deepEqual(stages, ['stage1:0/1', 'stage1:1/1', 'stage2:1/3', 'stage2:2/3', 'stage2:3/3', 'decode:1/1']);
  const last = lines.at(-1);
  assert.deepEqual(last?.result?.classes, ['T-shirt/top', 'Trouser'], 'without a class: every class in turn');
});

describe('bad requests answer 400 naming the field, and the server goes on', () => {
  const cases: [unknown, string, RegExp][] = [
    [{ n: 0 }, 'n', /n must be an integer in 1\.\.64, got 0/],
    [{ n: 65 }, 'n', /got 65/],
    [{ n: 1.5 }, 'n', /got 1\.5/],
    [{ seed: -1 }, 'seed', /seed must be an integer in 0\.\.4294967295/],
    [{ seed: 'abc' }, 'seed', /got "abc"/],
    [{ class: 'cat' }, 'class', /class must be 0\.\.9 or one of: T-shirt\/top, .*Ankle boot; got "cat"/],
    [{ class: 10 }, 'class', /got 10/],
    [{ stage1Cfg: 0.5 }, 'stage1Cfg', /stage1Cfg must be a number in \[1, 20\], got 0\.5/],
    [{ stage2Cfg: 100 }, 'stage2Cfg', /got 100/],
    [{ steps: 0 }, 'steps', /steps must be an integer in 1\.\.64/],
    [{ steps: 65 }, 'steps', /got 65/],
    [{ diffusionSteps: 0 }, 'diffusionSteps', /diffusionSteps must be an integer in 1\.\.1000, got 0/],
    [{ finalDiffusionSteps: 0 }, 'finalDiffusionSteps', /finalDiffusionSteps must be an integer in 1\.\.1000, got 0/],
    [
      { diffusionSampler: 'euler' },
      'diffusionSampler',
      /diffusionSampler must be one of ancestral, ddim, dpm-solver\+\+, got "euler"/,
    ],
    [{ headPrecision: 'fp16' }, 'headPrecision', /headPrecision must be one of fp32, bf16, auto, got "fp16"/],
    [{ headGuidance: 'fast' }, 'headGuidance', /headGuidance must be one of cfg, distilled, got "fast"/],
    [{ stepz: 3 }, 'stepz', /unknown field "stepz"/],
    [[1, 2], 'body', /JSON object/],
  ];
  for (const [body, field, message] of cases) {
    test(`${JSON.stringify(body)} → ${field}`, async () => {
      const res = await post(body);
      assert.equal(res.status, 400);
      const e = (await res.json()) as ErrorResponse;
      assert.equal(e.field, field);
      assert.match(e.error, message);
    });
  }

  test('not JSON, no JSON content type, unknown path, wrong method', async () => {
    const url = new URL('api/generate', server.url);
    let res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{bad' });
    assert.equal(res.status, 400);
    assert.equal((await error(res)).field, 'body');
    res = await fetch(url, { method: 'POST', body: '{}' });
    assert.equal(res.status, 415);
    assert.match((await error(res)).error, /Content-Type: application\/json/);
    res = await fetch(new URL('nope', server.url));
    assert.equal(res.status, 404);
    res = await fetch(url);
    assert.equal(res.status, 405);
    assert.match((await error(res)).error, /use POST/);
    res = await fetch(new URL('api/info', server.url));
    assert.equal(res.status, 200, 'the server still answers');
  });
});

test('one generation at a time: a second one meanwhile waits its turn, then answers 200', async () => {
  const [a, b] = await Promise.all([post({ n: 4, seed: 0 }), post({ n: 4, seed: 1 })]);
  assert.deepEqual([a.status, b.status], [200, 200]);
  await Promise.all([a.arrayBuffer(), b.arrayBuffer()]);
  const info = (await (await fetch(new URL('api/info', server.url))).json()) as InfoResponse;
  assert.deepEqual([info.busy, info.queue], [false, { waiting: 0, max: 8 }]);
});
