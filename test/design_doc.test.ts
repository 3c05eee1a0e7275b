// docs/DESIGN.md is the design of record: these checks keep it from rotting silently. Every path it
// names exists, every module of src/ is placed in it, and imports follow its layer table.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const design = readFileSync(join(root, 'docs', 'DESIGN.md'), 'utf8');

function filesUnder(dir: string, ext: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
    const p = posix.join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p, ext));
    else if (e.name.endsWith(ext)) out.push(p);
  }
  return out.sort();
}
const srcModules = filesUnder('src', '.ts');

/** Repository paths named in `code spans`, e.g. `src/torch/tensor.ts` or `test/fixtures/keys_*.json`. */
function namedPaths(markdown: string): string[] {
  const spans = markdown.match(/`[^`\n]+`/g) ?? [];
  const tokens = spans.flatMap((s) => s.slice(1, -1).split(/[\s(),]+/));
  const rooted = tokens.filter((t) => /^(src|native|test|bench|scripts|docs|models|\.ci)\/[\w./*-]*$/.test(t));
  return [...new Set(rooted.map((t) => t.replace(/[.:]+$/, '')))];
}

/** Whether a named path exists; a `*` in its last segment matches any run of characters. */
function pathExists(p: string): boolean {
  if (!p.includes('*')) return existsSync(join(root, p));
  const dir = posix.dirname(p);
  const re = new RegExp(
    `^${posix
      .basename(p)
      .replace(/[.+?^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')}$`,
  );
  return existsSync(join(root, dir)) && readdirSync(join(root, dir)).some((f) => re.test(f));
}

/** The layer table: folder of src/ → rank (0 = top). */
function layerRanks(markdown: string): Map<string, number> {
  const block = markdown.match(/```layers\n([\s\S]*?)```/);
  if (!block) throw new Error('docs/DESIGN.md has no ```layers block');
  const ranks = new Map<string, number>();
  block[1]
    .trim()
    .split('\n')
    .forEach((line, rank) => {
      for (const folder of line.trim().split(/\s+/)) ranks.set(folder, rank);
    });
  return ranks;
}

test('docs/DESIGN.md names only paths that exist', () => {
  const paths = namedPaths(design);
  assert.ok(paths.length > 50, `only ${paths.length} paths found: the parser is broken`);
  const missing = paths.filter((p) => !pathExists(p));
  assert.deepEqual(missing, [], `named in docs/DESIGN.md but absent: ${missing.join(', ')}`);
});

test('every module of src/ is placed in docs/DESIGN.md', () => {
  assert.ok(srcModules.length > 50);
  const absent = srcModules.filter((m) => !design.includes(m));
  assert.deepEqual(absent, [], `not described in docs/DESIGN.md: ${absent.join(', ')}`);
});

test('imports go down the layers of docs/DESIGN.md (or stay within one)', () => {
  const ranks = layerRanks(design);
  const layerOf = (file: string) => file.split('/')[1]; // src/<layer>/…
  const problems: string[] = [];
  for (const file of srcModules) {
    const from = ranks.get(layerOf(file));
    if (from === undefined) {
      problems.push(`${file}: folder src/${layerOf(file)} is in no layer`);
      continue;
    }
    const text = readFileSync(join(root, file), 'utf8');
    for (const [, spec] of text.matchAll(/\bfrom\s+'(\.[^']+)'/g)) {
      const target = relative(root, resolve(root, posix.dirname(file), spec))
        .split('\\')
        .join('/');
      if (!target.startsWith('src/')) continue;
      const to = ranks.get(layerOf(target));
      if (to === undefined || to < from) problems.push(`${file} imports ${target} (a layer above)`);
    }
  }
  assert.deepEqual(problems, []);
});

test('the README links the design document, not the old spec outside the repo', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  assert.match(readme, /\(docs\/DESIGN\.md\)/);
  assert.doesNotMatch(readme, /shared\/DESIGN\.md/);
});

test('the parsers find what they should (they can fail)', () => {
  assert.deepEqual(namedPaths('see `src/a.ts` and `npx tsx scripts/b.ts x`, not `c.ts` or `../shared/D.md`.'), [
    'src/a.ts',
    'scripts/b.ts',
  ]);
  assert.equal(pathExists('src/nope.ts'), false);
  assert.equal(pathExists('test/fixtures/keys_*.json'), true);
  assert.deepEqual(
    [...layerRanks('```layers\ncli server\ntorch\n```')],
    [
      ['cli', 0],
      ['server', 0],
      ['torch', 1],
    ],
  );
});
