// The caching CPU allocator (native/cpu_cache.cc) the addon installs at load: large freed buffers
// are handed back for the next allocation of their size, small ones bypass it, the cached bytes
// stay under the limit, and emptyCpuCache frees them.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { test } from 'node:test';
import * as torch from '../src/torch/index.ts';
import { ALLOCATOR, cpuCacheLimit, native } from '../src/torch/native.ts';

const MiB = 2 ** 20;
const stats = () => {
  const s = torch.cpuCacheStats();
  assert.ok(s, 'the cache is installed by default');
  return s;
};

test('a freed large tensor is handed back for the next allocation of its size', () => {
  torch.empty([1024, 1024]).dispose(); // 4 MiB: cached from here on
  const before = stats();
  for (let i = 0; i < 5; i++) torch.empty([1024, 1024]).dispose();
  const after = stats();
  assert.equal(after.hits - before.hits, 5);
  assert.equal(after.misses, before.misses);
  assert.ok(after.cachedBytes >= 4 * MiB);
});

test('tensors below the size threshold bypass the cache', () => {
  const before = stats();
  for (let i = 0; i < 5; i++) torch.empty([16, 16]).dispose();
  const after = stats();
  assert.equal(after.hits, before.hits);
  assert.equal(after.misses, before.misses);
  assert.equal(before.minBytes, ALLOCATOR.cacheMinBytes);
});

test('a reused block holds the new tensor’s values, not the old one’s', () => {
  torch.full([512, 512], 7).dispose();
  const z = torch.zeros([512, 512]);
  const o = torch.ones([512, 512]);
  assert.equal(z.sum().item(), 0);
  assert.equal(o.sum().item(), 512 * 512);
  torch.dispose([z, o]);
});

test('cached bytes stay under the limit and emptyCpuCache frees them', () => {
  const { minBytes, limitBytes } = stats();
  try {
    native.cpuCacheInstall(minBytes, 3 * MiB); // trims what is cached now to 3 MiB
    assert.ok(stats().cachedBytes <= 3 * MiB);
    const ts = Array.from({ length: 4 }, () => torch.empty([256, 1024])); // 1 MiB each
    torch.dispose(ts);
    const s = stats();
    assert.ok(s.cachedBytes <= 3 * MiB, `cached ${s.cachedBytes} bytes over a 3 MiB limit`);
    assert.ok(s.cachedBytes >= 2 * MiB);
    // a new size displaces the blocks freed longest ago instead of being turned away
    torch.empty([384, 1024]).dispose(); // 1.5 MiB
    const before = stats();
    torch.empty([384, 1024]).dispose();
    assert.equal(stats().hits - before.hits, 1);
    assert.ok(stats().cachedBytes <= 3 * MiB);
    torch.emptyCpuCache();
    assert.equal(stats().cachedBytes, 0);
    assert.equal(stats().cachedBlocks, 0);
  } finally {
    native.cpuCacheInstall(minBytes, limitBytes);
  }
});

test('bad cache settings are rejected with the setting named', () => {
  assert.throws(() => native.cpuCacheInstall(-1, 0), /minBytes must be a non-negative number/);
  assert.throws(() => native.cpuCacheInstall(0, Number.NaN), /limitBytes must be a non-negative number/);
  assert.throws(() => cpuCacheLimit('lots'), /D2C_CPU_CACHE_MB must be a number of MiB >= 0.*'lots'/);
  assert.throws(() => cpuCacheLimit('-5'), /D2C_CPU_CACHE_MB/);
  assert.equal(cpuCacheLimit('0'), 0);
  assert.equal(cpuCacheLimit('64'), 64 * MiB);
  assert.equal(cpuCacheLimit(undefined), ALLOCATOR.cacheLimitMB * MiB);
});

test('a bad D2C_CPU_CACHE_MB warns by name and keeps the default limit', () => {
  const probe = `import('./src/torch/index.ts').then((t) => console.log(t.cpuCacheStats().limitBytes))`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', probe], {
    env: { ...process.env, D2C_CPU_CACHE_MB: 'lots' },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(Number(r.stdout.trim()), ALLOCATOR.cacheLimitMB * MiB);
  assert.match(r.stderr, /^d2c: warning: D2C_CPU_CACHE_MB must be a number of MiB >= 0.*'lots'; using 1024/);
});

test('D2C_CPU_CACHE_MB=0 and D2C_MALLOC=system leave the cache off', () => {
  const probe = `import('./src/torch/index.ts').then((t) => console.log(JSON.stringify(t.cpuCacheStats())))`;
  for (const env of [{ D2C_CPU_CACHE_MB: '0' }, { D2C_MALLOC: 'system' }]) {
    const out = execFileSync(process.execPath, ['--import', 'tsx', '-e', probe], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
    });
    assert.equal(out.trim(), 'null', JSON.stringify(env));
  }
});
