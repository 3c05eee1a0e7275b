// The server's HTTP thread never loads libtorch: only its model worker does. Importing the server
// (everything the HTTP thread runs) maps no libtorch into the process.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';

test('importing src/server/server.ts loads no libtorch', {
  skip: existsSync('/proc/self/maps') ? false : 'no /proc',
}, async () => {
  const mapped = () => readFileSync('/proc/self/maps', 'utf8').includes('libtorch');
  assert.equal(mapped(), false, 'libtorch was mapped before the import');
  await import('../src/server/server.ts');
  assert.equal(mapped(), false, 'importing the server loaded libtorch on the HTTP thread');
  // The check can fail: loading the engine maps it.
  await import('../src/torch/index.ts');
  assert.equal(mapped(), true);
});
