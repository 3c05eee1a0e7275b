// Writes the generated reference of docs/cli.md from the commander definitions (`npm run docs:cli`);
// the page's hand-written text outside the block is kept. `--check` only reports whether it is current.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeGeneratedBlock } from '../src/cli/generated_block.ts';
import { CLI_DOCS_TOOL, cliReference } from '../src/cli/help_markdown.ts';
import { buildProgram } from '../src/cli/main.ts';

const path = join(import.meta.dirname, '..', 'docs', 'cli.md');
const old = readFileSync(path, 'utf8');
const next = writeGeneratedBlock(old, CLI_DOCS_TOOL, cliReference(buildProgram()));
if (process.argv.includes('--check')) {
  if (next !== old) {
    process.stderr.write('docs/cli.md is out of date: run `npm run docs:cli`\n');
    process.exit(1);
  }
} else if (next !== old) {
  writeFileSync(path, next);
  process.stderr.write('docs/cli.md updated\n');
}
process.exit(0);
