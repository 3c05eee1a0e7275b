// Times `d2c export-web`'s page in headless Chromium (Debian's /usr/bin/chromium): serves SITE with
// a plain static server (the site's service worker isolates the page), generates N images R times
// (default 8 × 3, seed 0, the model's defaults) and prints the page's timing line for each;
// --threads sets the wasm threads (the page's ?threads=), --backend forces wasm or webgpu, --shot
// FILE saves a screenshot after the last run.
//   node --import tsx scripts/web_timing.ts SITE [--n 8] [--runs 3] [--threads 1] [--backend wasm] [--shot docs/web.png]
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { serveStatic } from '../test/helpers/static_server.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    n: { type: 'string', default: '8' },
    runs: { type: 'string', default: '3' },
    threads: { type: 'string' },
    backend: { type: 'string' },
    shot: { type: 'string' },
  },
});
if (positionals.length !== 1) throw new Error('usage: scripts/web_timing.ts SITE [--n 8] [--runs 3] [--shot FILE]');
const server = await serveStatic(resolve(positionals[0]));
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-background-networking'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1000, height: 700 } });
  page.setDefaultTimeout(600_000);
  const query = new URLSearchParams();
  if (values.threads) query.set('threads', values.threads);
  if (values.backend) query.set('backend', values.backend);
  await page.goto(`${server.url}${query.size ? `?${query}` : ''}`);
  await page.waitForSelector('body[data-state="ready"], body[data-state="error"]');
  process.stdout.write(`${await page.textContent('#model')}\n`);
  await page.fill('#n', values.n);
  await page.fill('#seed', '0');
  for (let i = 0; i < Number(values.runs); i++) {
    await page.evaluate('document.body.dataset.state = "clicked"');
    await page.click('#generate');
    await page.waitForSelector('body[data-state="done"], body[data-state="error"]');
    process.stdout.write(`${await page.textContent('#timing')}\n`);
  }
  if (values.shot) {
    await page.evaluate('window.scrollTo(0, 0)');
    await page.screenshot({ path: values.shot });
  }
} finally {
  await browser.close();
  await server.close();
}
