// Option value parsers. Each names the option and the bad value in its error, e.g.
// `--n must be a positive integer, got "abc"`. Use them as commander parsers
// (`.option('--n <n>', 'count', intOption('--n', { min: 1 }), 8)`) or directly on strings.
import { UsageError } from './errors.ts';

const INT = /^[+-]?\d+$/;

function describeInt(min?: number, max?: number): string {
  if (min === 1 && max === undefined) return 'a positive integer';
  if (min === 0 && max === undefined) return 'a non-negative integer';
  if (min !== undefined && max !== undefined) return `an integer in ${min}..${max}`;
  if (min !== undefined) return `an integer ≥ ${min}`;
  if (max !== undefined) return `an integer ≤ ${max}`;
  return 'an integer';
}

/** Parses an integer option; throws UsageError naming the option and value. */
export function parseIntOption(value: string, name: string, range: { min?: number; max?: number } = {}): number {
  const v = INT.test(value.trim()) ? Number(value) : Number.NaN;
  const ok =
    Number.isSafeInteger(v) && (range.min === undefined || v >= range.min) && (range.max === undefined || v <= range.max);
  if (!ok) throw new UsageError(`${name} must be ${describeInt(range.min, range.max)}, got "${value}"`);
  return v;
}

/** Parses a finite number option with optional bounds (`gt` = strictly greater). */
export function parseNumberOption(value: string, name: string, range: { min?: number; max?: number; gt?: number } = {}): number {
  const v = value.trim() === '' ? Number.NaN : Number(value);
  const parts: string[] = [];
  if (range.gt !== undefined) parts.push(`> ${range.gt}`);
  if (range.min !== undefined) parts.push(`≥ ${range.min}`);
  if (range.max !== undefined) parts.push(`≤ ${range.max}`);
  const what = parts.length ? `a number ${parts.join(' and ')}` : 'a number';
  const ok =
    Number.isFinite(v) &&
    (range.gt === undefined || v > range.gt) &&
    (range.min === undefined || v >= range.min) &&
    (range.max === undefined || v <= range.max);
  if (!ok) throw new UsageError(`${name} must be ${what}, got "${value}"`);
  return v;
}

/** Parses one of a fixed set of words. */
export function parseChoice<T extends string>(value: string, name: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(value))
    throw new UsageError(`${name} must be one of ${choices.join(', ')}, got "${value}"`);
  return value as T;
}

// Commander parser factories (commander calls parser(value, previous)).
export const intOption =
  (name: string, range: { min?: number; max?: number } = {}) =>
  (v: string) =>
    parseIntOption(v, name, range);
export const positiveInt = (name: string) => intOption(name, { min: 1 });
export const numberOption =
  (name: string, range: { min?: number; max?: number; gt?: number } = {}) =>
  (v: string) =>
    parseNumberOption(v, name, range);
export const choiceOption =
  <T extends string>(name: string, choices: readonly T[]) =>
  (v: string) =>
    parseChoice(v, name, choices);
