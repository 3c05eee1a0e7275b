// Runs `d2c …` in this process through buildProgram(), as main() does but without exiting, and
// returns what a user would see: the exit code and what was written to stdout and stderr. Saves a
// process start (and a libtorch load) per CLI error checked.
import { type Command, CommanderError } from 'commander';
import { reportError } from '../../src/cli/errors.ts';
import { buildProgram } from '../../src/cli/main.ts';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Makes commander throw instead of exiting, on every subcommand. */
function overrideExits(c: Command): void {
  c.exitOverride();
  for (const sub of c.commands) overrideExits(sub);
}

export async function d2cInProcess(...args: string[]): Promise<CliRun> {
  const out = { stdout: '', stderr: '' };
  const writes = { stdout: process.stdout.write, stderr: process.stderr.write };
  const capture = (k: 'stdout' | 'stderr') => (chunk: string | Uint8Array) => {
    out[k] += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  };
  process.stdout.write = capture('stdout') as typeof process.stdout.write;
  process.stderr.write = capture('stderr') as typeof process.stderr.write;
  let code = 0;
  try {
    const program = buildProgram();
    overrideExits(program);
    await program.parseAsync(['node', 'd2c', ...args]);
  } catch (e) {
    // commander has already printed its own errors (with main()'s `d2c:` prefix)
    code = e instanceof CommanderError ? e.exitCode : reportError(e, false);
  } finally {
    process.stdout.write = writes.stdout;
    process.stderr.write = writes.stderr;
  }
  return { code, ...out };
}
