// A benchmark case module (bench/cases/*.ts): its default export is { name, unit, run() }. run()
// returns the figure (a time, or for unit 'scaling' a speed-up), or { value, detail } where detail
// holds figures reported beside it; a case that drives other processes may return a Promise.
import { readdirSync } from 'node:fs';
import { basename } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface BenchFigure {
  value: number;
  detail?: Record<string, number>;
}

export interface BenchCase {
  name: string;
  unit: 'ms' | 'us' | 'scaling';
  /** false: the case compares d2c with itself (e.g. two sampling settings) and has no PyTorch twin. */
  twin?: false;
  run(): number | BenchFigure | Promise<number | BenchFigure>;
}

/** A figure as case_main prints it (and a PyTorch twin may print it): a number, or a JSON BenchFigure. */
export function formatFigure(f: number | BenchFigure): string {
  return typeof f === 'number' ? String(f) : JSON.stringify(f);
}

/** The figure of a printed line (formatFigure's output), or null when it is neither form. */
export function parseFigure(line: string): BenchFigure | null {
  if (!line.startsWith('{')) return Number.isFinite(Number(line)) && line !== '' ? { value: Number(line) } : null;
  try {
    const f = JSON.parse(line) as BenchFigure;
    const detail = Object.values(f.detail ?? {});
    return Number.isFinite(f.value) && detail.every(Number.isFinite) ? f : null;
  } catch {
    return null;
  }
}

function isCase(c: unknown): c is BenchCase {
  const b = c as BenchCase;
  return (
    typeof b === 'object' &&
    b !== null &&
    typeof b.name === 'string' &&
    (b.unit === 'ms' || b.unit === 'us' || b.unit === 'scaling') &&
    typeof b.run === 'function' &&
    (b.twin === undefined || b.twin === false)
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
    throw new Error(`bench/cases/${basename(path)}: default export must be { name, unit: 'ms' | 'us' | 'scaling', run() }`);
  return mod.default;
}
