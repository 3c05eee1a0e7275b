// The TypeScript examples of README.md and docs/library.md run (against the shipped model, by name),
// their package imports pointed at this checkout's sources, and the README's sampling example uses
// the model's own settings: it passes none. test/package/ runs the README's against the package.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ROOT } from './helpers/tiny_pipeline.ts';

const dir = mkdtempSync(join(tmpdir(), 'd2c-docs-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function tsBlocks(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(/^```ts\n([\s\S]*?)^```/gm)].map((m) => m[1]);
}

/** The package's entries as the sources of this checkout. */
const ENTRIES = { "'d2c'": 'src/pipeline/index.ts', "'d2c/torch'": 'src/torch/index.ts' };

/** Runs an example from a scratch folder, its `'d2c'` imports pointed at this checkout, on one thread. */
function run(code: string, name: string): { code: number | null; stderr: string } {
  // .mts: the scratch folder has no package.json, and the examples use top-level await.
  const file = join(dir, `${name}.mts`);
  let body = code;
  for (const [from, to] of Object.entries(ENTRIES)) body = body.replaceAll(`from ${from};`, `from '${ROOT}${to}';`);
  assert.doesNotMatch(body, /from '(?!\/)/, 'an example imports something else than d2c and d2c/torch');
  writeFileSync(file, `import { setNumThreads } from '${ROOT}src/torch/index.ts';\nsetNumThreads(1);\n${body}`);
  const r = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), file], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 600_000,
  });
  return { code: r.status, stderr: r.error ? `${r.error.message}\n${r.stderr}` : r.stderr };
}

test("the README's library example runs and passes no sampling settings (the model's own apply)", () => {
  const blocks = tsBlocks('README.md');
  assert.equal(blocks.length, 1, 'README.md has one TypeScript example');
  assert.doesNotMatch(blocks[0], /stage1\s*:|stage2\s*:/, 'the example must not override d2c.json');
  assert.match(blocks[0], /import \{ D2C \} from 'd2c';/);
  assert.match(blocks[0], /D2C\.fromPretrained\('d2c-fmnist'\)/);
  const r = run(blocks[0], 'readme');
  assert.equal(r.code, 0, r.stderr);
});

test('every TypeScript example of docs/library.md runs', () => {
  const blocks = tsBlocks('docs/library.md');
  assert.ok(blocks.length >= 2, `docs/library.md has ${blocks.length} TypeScript examples`);
  blocks.forEach((b, i) => {
    const r = run(b, `library${i}`);
    assert.equal(r.code, 0, `example ${i + 1}: ${r.stderr}`);
  });
  assert.ok(existsSync(join(dir, 'out', 'three.png')), 'the first example writes out/three.png');
});
