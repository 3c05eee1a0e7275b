// A benchmark case module (bench/cases/*.ts): its default export is { name, unit, run(): number }.
import { readdirSync } from 'node:fs';
import { basename } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface BenchCase {
  name: string;
  unit: 'ms' | 'us';
  run(): number;
}

function isCase(c: unknown): c is BenchCase {
  const b = c as BenchCase;
  return (
    typeof b === 'object' &&
    b !== null &&
    typeof b.name === 'string' &&
    (b.unit === 'ms' || b.unit === 'us') &&
    typeof b.run === 'function'
  );
}

/** The case names in `dir` (its *.ts files), sorted. */
export function caseNames(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => f.slice(0, -3))
    .sort();
}

export async function loadCase(path: string): Promise<BenchCase> {
  const mod = (await import(pathToFileURL(path).href)) as { default?: unknown };
  if (!isCase(mod.default))
    throw new Error(`bench/cases/${basename(path)}: default export must be { name, unit: 'ms' | 'us', run(): number }`);
  return mod.default;
}
