// The glibc allocator policy the addon sets at load (src/torch/native.ts ALLOCATOR): freed blocks below
// 32 MiB stay in the heap for the next step instead of going back to the kernel. The pattern measured
// (test/support/page_faults.ts) cannot fault less than every page it writes under glibc's defaults,
// whatever else the process did, so both bounds below are absolute: with the policy off
// (D2C_MALLOC=system in the environment) the first test fails.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { native } from '../src/torch/native.ts';

const script = new URL('./support/page_faults.ts', import.meta.url).pathname;
/** Pages one step writes and the page faults of each measured step, the caching CPU allocator off. */
const measure = (env: Record<string, string>) => {
  const out = execFileSync(process.execPath, ['--import', 'tsx', script], {
    env: { ...process.env, D2C_CPU_CACHE_MB: '0', ...env },
    encoding: 'utf8',
  });
  const { pages, faults } = JSON.parse(out) as { pages: number; faults: number[] };
  return { pages, faults, fewest: Math.min(...faults) };
};

const glibc =
  process.platform === 'linux' &&
  Boolean((process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime);
// With transparent huge pages (of any size) on for every mapping, a fresh mapping faults once per
// huge page, not once per page.
const thpDir = '/sys/kernel/mm/transparent_hugepage';
const largePagesAlways = (() => {
  try {
    const sizes = readdirSync(thpDir).filter((d) => d.startsWith('hugepages-'));
    return [`${thpDir}/enabled`, ...sizes.map((d) => `${thpDir}/${d}/enabled`)].some((f) =>
      readFileSync(f, 'utf8').includes('[always]'),
    );
  } catch {
    return false;
  }
})();

test("under d2c's policy a step reuses the heap memory the step before it freed", {
  skip: !glibc && 'glibc only',
}, () => {
  const { pages, faults, fewest } = measure({});
  // measured here: most steps 0–70 faults (the heap grows 16 pages a step), against 4,350+ under the defaults
  assert.ok(fewest <= pages / 16, `every step faulted in its block (${pages} pages): ${faults}`);
});

test("under glibc's defaults every step faults in every page it writes", {
  skip: (!glibc && 'glibc only') || (largePagesAlways && 'transparent huge pages are on for every mapping'),
}, () => {
  const { pages, faults, fewest } = measure({ D2C_MALLOC: 'system' });
  assert.ok(fewest >= pages, `a step faulted ${fewest} times for ${pages} pages written: ${faults}`);
});

test('tuneAllocator rejects negative thresholds', () => {
  assert.throws(() => native.tuneAllocator(-1, 0), /thresholds must be >= 0/);
});
