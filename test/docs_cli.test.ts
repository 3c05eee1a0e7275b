// docs/cli.md cannot drift from the CLI: its reference block is what `npm run docs:cli` generates
// from the commander definitions, and every command and option its hand-written text names exists.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Command } from 'commander';
import { readGeneratedBlock } from '../src/cli/generated_block.ts';
import { CLI_DOCS_TOOL, cliReference } from '../src/cli/help_markdown.ts';
import { buildProgram } from '../src/cli/main.ts';
import { ROOT } from './helpers/tiny_pipeline.ts';

const page = readFileSync(join(ROOT, 'docs', 'cli.md'), 'utf8');

function commands(cmd: Command, prefix = 'd2c'): Map<string, Command> {
  const out = new Map<string, Command>();
  for (const c of cmd.commands) {
    const name = `${prefix} ${c.name()}`;
    out.set(name, c);
    for (const [k, v] of commands(c, name)) out.set(k, v);
  }
  return out;
}

test('the reference block of docs/cli.md is what `npm run docs:cli` generates from the CLI', () => {
  const block = readGeneratedBlock(page, CLI_DOCS_TOOL);
  assert.ok(block, 'docs/cli.md has no generated block');
  assert.equal(block, cliReference(buildProgram()), 'docs/cli.md is out of date: run `npm run docs:cli`');
});

test('the reference names every command and every option of --help, and nothing else', () => {
  const program = buildProgram();
  const all = commands(program);
  const block = readGeneratedBlock(page, CLI_DOCS_TOOL) ?? '';
  const sections = block.split('\n### ').slice(1);
  assert.deepEqual(
    sections.map((s) => s.split('\n')[0]),
    [...all.keys()],
  );
  for (const s of sections) {
    const cmd = all.get(s.split('\n')[0]) as Command;
    const documented = [...s.matchAll(/^\| `[^`]*?(--[\w-]+)/gm)].map((m) => m[1]);
    const real = cmd.options.filter((o) => !o.hidden).map((o) => o.long as string);
    assert.deepEqual(documented, real, `options of ${s.split('\n')[0]}`);
  }
});

test('every `d2c …` command and option the hand-written text of docs/cli.md names exists', () => {
  const outside = page.replace(readGeneratedBlock(page, CLI_DOCS_TOOL) ?? '', '');
  const program = buildProgram();
  const all = commands(program);
  const flags = new Set([...all.values(), program].flatMap((c) => c.options.map((o) => o.long as string)));
  flags.add('--help');
  const named = [...outside.matchAll(/`(--[a-z][\w-]*)/g)].map((m) => m[1]);
  assert.ok(named.length > 5, 'the flag parser found too few flags');
  assert.deepEqual(
    named.filter((f) => !flags.has(f)),
    [],
  );
  const cmds = [...outside.matchAll(/`d2c ((?:[a-z][\w-]* ?)+)/g)].map((m) => m[1].trim());
  for (const c of cmds) {
    const words = c.split(' ');
    const known = words.some((_, i) => all.has(`d2c ${words.slice(0, i + 1).join(' ')}`));
    assert.ok(known, `docs/cli.md names \`d2c ${c}\`, which is no command`);
  }
});
