// docs/cli.md's reference: every command and option as `--help` prints them (commander's own Help
// formats each term and description, defaults included), so the page cannot say what the CLI does
// not. `npm run docs:cli` (scripts/cli_docs.ts) writes it; test/docs_cli.test.ts fails on a difference.
import type { Command, Help } from 'commander';

export const CLI_DOCS_TOOL = 'npm run docs:cli';

/** Every command under `program`, depth first in registration order, with its full name. */
function walk(cmd: Command, prefix: string[] = []): { path: string; cmd: Command }[] {
  const help = cmd.createHelp();
  return help.visibleCommands(cmd).flatMap((c) => {
    if (c.name() === 'help') return [];
    const path = [...prefix, c.name()];
    return [{ path: path.join(' '), cmd: c }, ...walk(c, path)];
  });
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function optionTable(help: Help, cmd: Command, withHelp = false): string[] {
  const args = help
    .visibleArguments(cmd)
    .map((a) => `| \`${cell(help.argumentTerm(a))}\` | ${cell(help.argumentDescription(a))} |`);
  const shown = help.visibleOptions(cmd).filter((o) => withHelp || o.long !== '--help');
  const opts = shown.map((o) => `| \`${cell(help.optionTerm(o))}\` | ${cell(help.optionDescription(o))} |`);
  return ['| argument or option | meaning |', '| --- | --- |', ...args, ...opts];
}

/** The Markdown reference of `program`: the command list, the global options, then one section per command. */
export function cliReference(program: Command): string {
  const help = program.createHelp();
  const all = walk(program);
  const name = program.name();
  const lines = [
    '## All commands',
    '',
    '| command | what it does |',
    '| --- | --- |',
    ...all.map(({ path, cmd }) => `| [\`${name} ${path}\`](#${name}-${path.replace(/ /g, '-')}) | ${cell(cmd.description())} |`),
    '',
    '## Options of every command',
    '',
    ...optionTable(help, program, true),
  ];
  for (const { path, cmd } of all) {
    const h = cmd.createHelp();
    lines.push('', `### ${name} ${path}`, '', cell(cmd.description()), '', '```', h.commandUsage(cmd), '```');
    const table = optionTable(h, cmd);
    if (table.length > 2) lines.push('', ...table);
  }
  return lines.join('\n');
}
