// The CLI's one error path: a UsageError (bad input the user can fix) prints `d2c: <message>` and
// exits 1 without a stack; other errors do the same unless --verbose asks for the stack.
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Prints an error the d2c way and returns the exit code. */
export function reportError(e: unknown, verbose: boolean): number {
  const err = e instanceof Error ? e : new Error(String(e));
  if (verbose && !(err instanceof UsageError)) process.stderr.write(`d2c: ${err.stack ?? err.message}\n`);
  else process.stderr.write(`d2c: ${err.message}\n`);
  return 1;
}
