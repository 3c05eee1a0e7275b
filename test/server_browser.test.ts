// The web UI page in headless Chromium (playwright-core): pick a class and seed, Generate, see the
// images (the same bytes the API gives), and see a bad value reported next to its field.
// Needs /usr/bin/chromium (Debian's `chromium`; .ci/run installs it) and skips without it.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import { type GenerateResponse, type RunningServer, startServer } from '../src/server/server.ts';

const CHROMIUM = '/usr/bin/chromium';
const MODEL = new URL('../models/d2c-fmnist', import.meta.url).pathname;
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} not found (apt-get install chromium)`;

let server: RunningServer;
let browser: Browser;
let page: Page;

const text = async (selector: string) => (await page.textContent(selector)) ?? '';

before(async () => {
  if (skip) return;
  server = await startServer({ model: MODEL, port: 0, threads: 1 });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-background-networking'],
  });
  page = await browser.newPage();
  page.setDefaultTimeout(60_000);
  await page.goto(server.url);
  await page.waitForSelector('#generate:enabled');
});

after(async () => {
  await browser?.close();
  await server?.close();
});

test('the page shows the model and its defaults', { skip }, async () => {
  assert.match(await text('#model'), /d2c-fmnist: 32×32 images of 10 classes/);
  assert.equal(await page.locator('#class option').count(), 11, 'every class in turn + 10 classes');
  assert.equal(await page.inputValue('#stage2Cfg'), '3');
  assert.equal(await page.inputValue('#steps'), '4');
  assert.equal(await page.inputValue('#diffusionSteps'), '25');
});

test('Generate shows the images of the chosen class and seed', { skip }, async () => {
  await page.selectOption('#class', '7');
  await page.fill('#n', '2');
  await page.fill('#seed', '3');
  // Record the progress line as it changes: generation is too quick to catch it by polling.
  // (Page-side code is a string: the tests' TypeScript has no DOM types.)
  await page.evaluate(`{
    const status = document.getElementById('status');
    window.seen = [];
    new MutationObserver(() => window.seen.push(status.textContent)).observe(status, { childList: true });
  }`);
  await page.click('#generate');
  await page.locator('#grid img.sample').nth(1).waitFor();
  await page.waitForSelector('#progress', { state: 'hidden' });
  const shown: { src: string; width: number; alt: string }[] = await page.$$eval('#grid img.sample', (imgs) =>
    imgs.map((i) => ({ src: i.src, width: i.naturalWidth, alt: i.alt })),
  );
  assert.deepEqual(
    shown.map((s) => [s.width, s.alt]),
    [
      [32, 'sample 0: Sneaker'],
      [32, 'sample 1: Sneaker'],
    ],
  );
  assert.match(await text('#summary'), /2 images, seed 3/);
  const seen = (await page.evaluate('window.seen')) as string[];
  assert.ok(seen.includes('stage 2: step 4 of 4'), `progress shown: ${JSON.stringify(seen)}`);
  // The page shows exactly what the API returns for the same settings.
  const res = await fetch(new URL('api/generate', server.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ class: 7, n: 2, seed: 3 }),
  });
  const api = (await res.json()) as GenerateResponse;
  assert.deepEqual(
    shown.map((s) => s.src),
    api.images.map((b) => `data:image/png;base64,${b}`),
  );
});

test('an out-of-range value is reported on the page and marks its field', { skip }, async () => {
  await page.fill('#n', '0');
  await page.click('#generate');
  await page.waitForSelector('#error:visible');
  assert.match(await text('#error'), /n must be an integer in 1\.\.64, got 0/);
  assert.equal(await page.getAttribute('#n', 'class'), 'invalid');
  await page.fill('#n', '1');
  await page.fill('#steps', '65');
  await page.click('#generate');
  await page.locator('#error', { hasText: 'steps' }).waitFor();
  assert.match(await text('#error'), /steps must be an integer in 1\.\.64, got 65/);
  assert.equal(await page.getAttribute('#n', 'class'), '', 'the fixed field is no longer marked');
});
