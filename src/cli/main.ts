#!/usr/bin/env -S node --single-threaded-gc
// The `d2c` program. Each subcommand lives in commands/<name>.ts and exports
// `register(program)`; to add one, import it and append it to COMMANDS.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import * as cache from './commands/cache.ts';
import * as data from './commands/data.ts';
import * as demo from './commands/demo.ts';
import * as dryRun from './commands/dry_run.ts';
import * as evalModel from './commands/eval.ts';
import * as evalReal from './commands/eval_real.ts';
import * as exportModel from './commands/export.ts';
import * as fid from './commands/fid.ts';
import * as fit from './commands/fit.ts';
import * as info from './commands/info.ts';
import * as pack from './commands/pack.ts';
import * as recon from './commands/recon.ts';
import * as sample from './commands/sample.ts';
import * as serve from './commands/serve.ts';
import * as stats from './commands/stats.ts';
import * as train from './commands/train.ts';
import * as trainClassifier from './commands/train_classifier.ts';
import { reportError } from './errors.ts';

// `train classifier` registers the shared `train` parent first; `train` adds tokenizer/stage1/stage2.
const COMMANDS: { register(program: Command): void }[] = [
  data,
  trainClassifier,
  train,
  cache,
  pack,
  fit,
  dryRun,
  sample,
  demo,
  info,
  fid,
  stats,
  evalModel,
  evalReal,
  recon,
  serve,
  exportModel,
];

export function buildProgram(): Command {
  const program = new Command('d2c')
    .description('D2C: two-stage class-conditional image generation (discrete GPT → continuous MAR)')
    .option('--verbose', 'print stack traces of unexpected errors')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({
      // Commander's own parse errors ("error: unknown option …") get the same `d2c:` prefix.
      outputError: (str, write) => write(`d2c: ${str.replace(/^error: /, '')}`),
    });
  for (const c of COMMANDS) c.register(program);
  return program;
}

export async function main(argv = process.argv): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (e) {
    return reportError(e, argv.includes('--verbose'));
  }
}

/** Whether node was started on this file; npm's `d2c` command is a symlink to it, so real paths are compared. */
function isProgram(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isProgram()) {
  const code = await main();
  // Decode workers and sharp may hold the event loop; the command is done.
  process.exit(code);
}
