// The one web page (src/web/index.html + page.ts) in headless Chromium (playwright-core), against
// both places samples come from: `d2c serve`'s API and the `d2c export-web` site (ONNX Runtime Web,
// served as static files). The same checks run on each: the model and its defaults are shown, a
// class and seed give that class's images (the same again for the same seed) with progress on the
// way, and a bad value is reported by name and marks its field. On the server the page shows
// exactly the API's bytes, and a request behind another shows its place in the queue. Needs /usr/bin/chromium (Debian's `chromium`) and skips without it.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import { exportWeb } from '../src/export/export_web.ts';
import { D2C } from '../src/pipeline/d2c.ts';
import { type GenerateResponse, startServer } from '../src/server/server.ts';
import * as torch from '../src/torch/index.ts';
import { serveStatic } from './helpers/static_server.ts';
import { tinyModelFolder } from './helpers/tiny_model_folder.ts';

/**
 * Page-side code (a string: the tests' TypeScript has no DOM types) that records every status line
 * in window.seen and marks the body "clicked", so waiting for "done" afterwards proves a new run.
 */
const WATCH_STATUS = `{
  const status = document.getElementById('status');
  window.seen = [];
  new MutationObserver(() => window.seen.push(status.textContent)).observe(status, { childList: true });
  document.body.dataset.state = 'clicked';
}`;
const CHROMIUM = '/usr/bin/chromium';
const MODEL = new URL('../models/d2c-fmnist', import.meta.url).pathname;
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} not found (apt-get install chromium)`;
const root = mkdtempSync(join(tmpdir(), 'd2c-page-'));

let browser: Browser;
before(async () => {
  if (skip) return;
  torch.setNumThreads(1);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-background-networking'] });
});
after(async () => {
  await browser?.close();
  rmSync(root, { recursive: true, force: true });
});

/** A site serving the page: its URL, and how to stop it. */
interface Site {
  url: string;
  close(): Promise<void>;
}

const SITES: Record<'serve' | 'export', () => Promise<Site>> = {
  serve: () => startServer({ model: MODEL, port: 0, threads: 1 }),
  export: async () => {
    const dir = join(root, 'site');
    await exportWeb(D2C.fromPretrained(MODEL), dir, { fp16: true });
    return serveStatic(dir);
  },
};

for (const [kind, start] of Object.entries(SITES)) {
  describe(`the page of ${kind === 'serve' ? 'd2c serve' : 'd2c export-web'}`, { skip }, () => {
    let site: Site;
    let page: Page;
    const text = async (selector: string) => (await page.textContent(selector)) ?? '';
    before(async () => {
      site = await start();
      page = await browser.newPage();
      page.setDefaultTimeout(300_000);
      await page.goto(site.url);
      await page.waitForSelector('body[data-state="ready"]');
    });
    after(async () => {
      await page?.close();
      await site?.close();
    });

    test('shows the model and its defaults', async () => {
      assert.match(await text('#model'), /d2c-fmnist: 32×32 images of 10 classes, stage-2 fusion add, sampled on /);
      assert.equal(await page.locator('#class option').count(), 11, 'every class in turn + 10 classes');
      assert.equal(await page.inputValue('#stage2Cfg'), '3');
      assert.equal(await page.inputValue('#steps'), '4');
      assert.equal(await page.inputValue('#diffusionSteps'), '25');
    });

    /** Generates and returns the samples' data URLs, recording each status line shown on the way. */
    async function generate(): Promise<{ srcs: string[]; alts: string[]; seen: string[] }> {
      await page.evaluate(WATCH_STATUS);
      await page.click('#generate');
      await page.waitForSelector('body[data-state="done"]');
      const shown = await page.$$eval('#results img.sample', (imgs) => imgs.map((i) => [i.src, i.alt]));
      return {
        srcs: shown.map((s) => s[0]),
        alts: shown.map((s) => s[1]),
        seen: (await page.evaluate('window.seen')) as string[],
      };
    }

    test('a class and seed give images of that class, the same again for the seed', async () => {
      await page.selectOption('#class', '7');
      await page.fill('#n', '2');
      await page.fill('#seed', '3');
      const first = await generate();
      assert.deepEqual(first.alts, ['sample 0: Sneaker', 'sample 1: Sneaker']);
      assert.ok(first.seen.includes('stage 2: step 4 of 4'), `progress shown: ${JSON.stringify(first.seen)}`);
      assert.match(await text('#timing'), /^2 images in [\d.]+ s on .*seed 3/);
      assert.equal(await page.locator('#results img.coarse').count(), 2, 'a coarse image above each sample');
      assert.deepEqual((await generate()).srcs, first.srcs, 'the same seed gave other pixels');
      if (kind === 'serve') {
        const res = await fetch(new URL('api/generate', site.url), {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json' },
          body: JSON.stringify({ class: 7, n: 2, seed: 3 }),
        });
        const api = (await res.json()) as GenerateResponse;
        assert.deepEqual(
          first.srcs,
          api.images.map((b) => `data:image/png;base64,${b}`),
          'the page shows the API’s images',
        );
      }
    });

    test('a request behind another shows its place in line, then runs', {
      skip: kind === 'export' && 'the exported site samples in the browser: no queue',
    }, async () => {
      // A long generation through the API first; its answer starts with its first line, so it runs.
      const ahead = new AbortController();
      await fetch(new URL('api/generate', site.url), {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/x-ndjson' },
        body: JSON.stringify({ n: 64, steps: 64 }),
        signal: ahead.signal,
      });
      await page.evaluate(WATCH_STATUS);
      await page.fill('#n', '1');
      await page.click('#generate');
      await page.waitForFunction(`window.seen.includes('waiting: next in line')`);
      ahead.abort(); // the long one is cancelled, and the page's runs
      await page.waitForSelector('body[data-state="done"]');
      assert.equal(await page.locator('#results img.sample').count(), 1);
    });

    test('an out-of-range value is reported and marks its field', async () => {
      await page.fill('#n', '0');
      await page.click('#generate');
      await page.waitForSelector('#error:visible');
      assert.match(await text('#error'), /n must be an integer in 1\.\.64, got "0"/);
      assert.equal(await page.getAttribute('#n', 'class'), 'invalid');
      await page.fill('#n', '1');
      await page.fill('#steps', '65');
      await page.click('#generate');
      await page.locator('#error', { hasText: 'steps' }).waitFor();
      assert.match(await text('#error'), /steps must be an integer in 1\.\.64, got "65"/);
      assert.equal(await page.getAttribute('#n', 'class'), '', 'the fixed field is no longer marked');
    });
  });
}

// Either shipped model: a colour model's own classes, and colour pixels, on both sites.
describe('a colour model on both sites', { skip }, () => {
  let model: string;
  before(() => {
    model = tinyModelFolder(join(root, 'colour-model'), { channels: 3, classes: ['red', 'green', 'blue'] });
  });
  const sites: Record<string, () => Promise<Site>> = {
    serve: () => startServer({ model, port: 0, threads: 1 }),
    export: async () => {
      const dir = join(root, 'colour-site');
      await exportWeb(D2C.fromPretrained(model), dir, { fp16: false });
      return serveStatic(dir);
    },
  };
  for (const [kind, start] of Object.entries(sites)) {
    test(`${kind}: its classes, and images in colour`, async () => {
      const site = await start();
      const page = await browser.newPage();
      try {
        page.setDefaultTimeout(300_000);
        await page.goto(site.url);
        await page.waitForSelector('body[data-state="ready"]');
        assert.match((await page.textContent('#model')) ?? '', /32×32 images of 3 classes/);
        assert.deepEqual(await page.$$eval('#class option', (o) => o.slice(1).map((e) => e.textContent)), [
          '0 · red',
          '1 · green',
          '2 · blue',
        ]);
        await page.selectOption('#class', '2');
        await page.fill('#n', '1');
        await page.fill('#steps', '2');
        await page.evaluate(WATCH_STATUS);
        await page.click('#generate');
        await page.waitForSelector('body[data-state="done"]');
        assert.equal(await page.getAttribute('#results img.sample', 'alt'), 'sample 0: blue');
        // The sample drawn into a canvas: a random-weight colour decoder's pixels differ between channels.
        const coloured = await page.$eval('#results img.sample', async (img) => {
          const image = img as unknown as { decode(): Promise<void>; naturalWidth: number; naturalHeight: number };
          await image.decode();
          const doc = (globalThis as unknown as { document: { createElement(t: string): unknown } }).document;
          const c = doc.createElement('canvas') as {
            width: number;
            height: number;
            getContext(k: string): {
              drawImage(i: unknown, x: number, y: number): void;
              getImageData(...a: number[]): { data: Uint8ClampedArray };
            };
          };
          c.width = image.naturalWidth;
          c.height = image.naturalHeight;
          const ctx = c.getContext('2d');
          ctx.drawImage(img, 0, 0);
          const d = ctx.getImageData(0, 0, c.width, c.height).data;
          let n = 0;
          for (let i = 0; i < d.length; i += 4) if (d[i] !== d[i + 1] || d[i + 1] !== d[i + 2]) n++;
          return n;
        });
        assert.ok(coloured > 0, 'every pixel is gray');
      } finally {
        await page.close();
        await site.close();
      }
    });
  }
});
