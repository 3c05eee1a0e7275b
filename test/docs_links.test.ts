// The documentation holds together: the README stays a landing page (at most 8,000 characters), and
// every relative link or image of every Markdown file points at a file that exists and, for a
// `#fragment` into a Markdown file, at one of its headings (GitHub's anchors).
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { test } from 'node:test';
import { ROOT } from './helpers/tiny_pipeline.ts';

const SKIP = new Set(['node_modules', '.git', '.venv', 'runs', 'out', 'scratch', 'build', 'build-staging']);

function markdownFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.isDirectory()) return SKIP.has(e.name) ? [] : markdownFiles(join(dir, e.name));
    return e.name.endsWith('.md') ? [join(dir, e.name)] : [];
  });
}

/** The text without fenced code blocks and inline code, where a `](x)` is no link. */
function prose(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '');
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const [, text] of markdown.replace(/^```[\s\S]*?^```/gm, '').matchAll(/^#{1,6} +(.+?) *#* *$/gm)) {
    const slug = text
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return out;
}

/** The relative link targets of a Markdown file: `[text](target)` and `![alt](target)`. */
function relativeLinks(markdown: string): string[] {
  return [...prose(markdown).matchAll(/\]\(([^)\s]+)(?: "[^"]*")?\)/g)]
    .map((m) => m[1])
    .filter((t) => !/^[a-z][\w+.-]*:/i.test(t));
}

test('README.md is a landing page: at most 8,000 characters, linking the design document', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  assert.ok(readme.length <= 8000, `README.md has ${readme.length} characters`);
  assert.match(readme, /\(docs\/DESIGN\.md\)/);
});

test('every relative link of every Markdown file resolves, anchors included', () => {
  const files = markdownFiles(ROOT);
  assert.ok(files.length >= 10, `only ${files.length} Markdown files found`);
  const broken: string[] = [];
  let checked = 0;
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const link of relativeLinks(text)) {
      checked++;
      const [path, fragment] = link.split('#', 2);
      const target = path === '' ? file : join(dirname(file), decodeURIComponent(path));
      const where = `${relative(ROOT, file)} → ${link}`;
      if (!existsSync(target)) broken.push(`${where}: no such file`);
      else if (fragment !== undefined && target.endsWith('.md') && !anchors(readFileSync(target, 'utf8')).has(fragment))
        broken.push(`${where}: no such heading`);
    }
  }
  assert.ok(checked > 50, `only ${checked} links found: the parser is broken`);
  assert.deepEqual(broken, []);
});

test('the link and anchor parsers find what they should (they can fail)', () => {
  assert.deepEqual(relativeLinks('[a](x.md) ![b](img/y.png) [c](https://e.org) `[d](z.md)`\n```\n[e](w.md)\n```\n[f](#g)'), [
    'x.md',
    'img/y.png',
    '#g',
  ]);
  assert.deepEqual(
    [
      ...anchors(
        '# The d2c CLI\n## `d2c fit`: a model\n## Options of every command\n## Options of every command\n### d2c eval-real',
      ),
    ],
    ['the-d2c-cli', 'd2c-fit-a-model', 'options-of-every-command', 'options-of-every-command-1', 'd2c-eval-real'],
  );
});
