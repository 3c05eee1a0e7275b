// `d2c export-web` in headless Chromium (playwright-core, Debian's /usr/bin/chromium): the static
// site, served by a plain file server, isolates itself through its service worker and runs wasm on
// every core, generates 8 images that are not blank, gives the same pixels for the same seed,
// fetches nothing but its own files, falls back to wasm where WebGPU fails, and reports a corrupt
// or missing model file on the page. Skips without /usr/bin/chromium.
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type Browser, chromium } from 'playwright-core';
import sharp from 'sharp';
import { exportWeb } from '../src/export/export_web.ts';
import { D2C } from '../src/pipeline/d2c.ts';
import * as torch from '../src/torch/index.ts';
import { type StaticServer, serveStatic } from './helpers/static_server.ts';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} not found (apt-get install chromium)`;
const SHIPPED = new URL('../models/d2c-fmnist', import.meta.url).pathname;
const root = mkdtempSync(join(tmpdir(), 'd2c-web-site-'));
const site = join(root, 'site');
let server: StaticServer;
let browser: Browser;

before(async () => {
  if (skip) return;
  torch.setNumThreads(1);
  await exportWeb(D2C.fromPretrained(SHIPPED), site, { fp16: true });
  server = await serveStatic(site);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-background-networking'] });
});
after(async () => {
  await browser?.close();
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

async function pixelStats(dataUrl: string): Promise<{ width: number; std: number }> {
  assert.match(dataUrl, /^data:image\/png;base64,/);
  const png = Buffer.from(dataUrl.slice(dataUrl.indexOf(',') + 1), 'base64');
  const { data, info } = await sharp(png).greyscale().raw().toBuffer({ resolveWithObject: true });
  const mean = data.reduce((s, v) => s + v, 0) / data.length;
  const std = Math.sqrt(data.reduce((s, v) => s + (v - mean) ** 2, 0) / data.length);
  return { width: info.width, std };
}

test('the exported site generates 8 images in Chromium, the same for a seed, with nothing but its own files', {
  skip,
}, async () => {
  const page = await browser.newPage();
  page.setDefaultTimeout(300_000);
  const urls: string[] = [];
  page.on('request', (r) => urls.push(r.url()));
  const logs: string[] = [];
  page.on('console', (m) => logs.push(m.text()));
  await page.goto(server.url);
  await page.waitForSelector('body[data-state="ready"]');
  await page.fill('#n', '8');
  await page.fill('#seed', '3');
  const run = async () => {
    // the page sets "running" then "done": waiting for "done" after this proves a new generation ran
    await page.evaluate('document.body.dataset.state = "clicked"');
    await page.click('#generate');
    await page.waitForSelector('body[data-state="done"]');
    return page.$$eval('#results img.sample', (imgs) => imgs.map((i) => (i as unknown as { src: string }).src));
  };
  const first = await run();
  assert.equal(first.length, 8);
  for (const src of first) {
    const s = await pixelStats(src);
    assert.equal(s.width, 32);
    assert.ok(s.std > 10, `a blank image (pixel std ${s.std.toFixed(1)})`);
  }
  const timing = (await page.textContent('#timing')) ?? '';
  assert.match(timing, /^8 images in [\d.]+ s on (wasm, \d+ threads?|webgpu)/);
  // the service worker made the page cross-origin isolated, so wasm runs on every core
  assert.equal(await page.evaluate('crossOriginIsolated'), true, 'the page is not cross-origin isolated');
  const cores = Number(await page.evaluate('navigator.hardwareConcurrency'));
  if (timing.includes('wasm')) assert.ok(timing.includes(`wasm, ${Math.min(cores, 8)} thread`), timing);
  console.log(`# ${timing}`);
  const second = await run();
  assert.deepEqual(second, first, 'the same seed gave different pixels');
  await page.fill('#seed', '4');
  const third = await run();
  assert.notDeepEqual(third, first);
  // nothing but the site's own files: no other host, and every path one the server had
  const foreign = urls.filter((u) => !u.startsWith(server.url) && !u.startsWith('data:'));
  assert.deepEqual(foreign, [], 'requests beyond the static files');
  assert.deepEqual(
    server.requests.filter((r) => r.status !== 200),
    [],
    'requests for files the export lacks',
  );
  await page.close();
});

test('forced WebGPU where the browser has no adapter falls back to wasm; ?threads sets the wasm threads', { skip }, async () => {
  const page = await browser.newPage();
  page.setDefaultTimeout(300_000);
  try {
    const hasAdapter = await page.evaluate('navigator.gpu ? navigator.gpu.requestAdapter().then(Boolean) : false');
    await page.goto(`${server.url}?backend=webgpu&threads=1`);
    await page.waitForSelector('body[data-state="ready"]');
    const model = (await page.textContent('#model')) ?? '';
    assert.match(model, hasAdapter ? /on webgpu/ : /on wasm, 1 thread \(WebGPU failed\)/);
  } finally {
    await page.close();
  }
});

test('a corrupt or missing model file is reported on the page', { skip }, async () => {
  const broken = join(root, 'broken');
  cpSync(site, broken, { recursive: true });
  truncateSync(join(broken, 'model', 'gpt_decode.onnx'), 1000);
  const s = await serveStatic(broken);
  const page = await browser.newPage();
  page.setDefaultTimeout(120_000);
  try {
    await page.goto(s.url);
    await page.waitForSelector('body[data-state="error"]');
    assert.match((await page.textContent('#error')) ?? '', /gpt_decode\.onnx is not a loadable ONNX model/);
    rmSync(join(broken, 'model', 'manifest.json'));
    await page.reload();
    await page.waitForSelector('body[data-state="error"]');
    assert.match((await page.textContent('#model')) ?? '', /could not fetch model\/manifest\.json: HTTP 404/);
  } finally {
    await page.close();
    await s.close();
  }
});
