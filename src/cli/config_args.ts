// `--config file.json` and `--set key=value` overrides, shared by the commands that build models.
import { existsSync } from 'node:fs';
import { readJsonFile } from '../io/json_file.ts';
import { UsageError } from './errors.ts';

/** Collects repeated `--set` options (commander's variadic accumulator). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Merges a JSON config file and `key=value` pairs (values parsed as JSON when they parse). */
export function configOverrides(file: string | undefined, sets: string[] = []): Record<string, unknown> {
  let out: Record<string, unknown> = {};
  if (file) {
    if (!existsSync(file)) throw new UsageError(`--config: no such file ${file}`);
    try {
      out = readJsonFile(file) as Record<string, unknown>;
    } catch (e) {
      throw new UsageError(`--config: ${(e as Error).message}`);
    }
  }
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new UsageError(`--set expects key=value, got "${s}"`);
    const key = s.slice(0, eq);
    const raw = s.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // a bare string
    }
    out[key] = value;
  }
  return out;
}
