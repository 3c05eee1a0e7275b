// The one guarded way d2c reads JSON and JSON Lines files: every error names the file (and the line
// of a JSONL file). A run killed while it appends to its log leaves a torn last line; where a file
// is only ever appended to, that line is skipped with a warning (and trimmed before appending).
import { closeSync, existsSync, fstatSync, ftruncateSync, openSync, readFileSync, readSync } from 'node:fs';

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new Error(`${path}: cannot read it (${err.code === 'ENOENT' ? 'no such file' : err.message})`);
  }
}

/** A JSON file's value; throws naming the file when it is missing or not valid JSON. */
export function readJsonFile(path: string): unknown {
  const text = readText(path);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
}

export interface JsonLinesOptions {
  /**
   * The file is only ever appended to (a training log): an unreadable last line is a write cut
   * short by a kill, skipped with a warning. Otherwise every line must parse.
   */
  appendOnly?: boolean;
  /** Where the warning goes (default: stderr). */
  warn?: (message: string) => void;
}

/** One value per non-empty line; errors name the file and the line. */
export function readJsonLines(path: string, o: JsonLinesOptions = {}): unknown[] {
  const lines = readText(path).split('\n');
  const last = lines.findLastIndex((l) => l.trim() !== '');
  const out: unknown[] = [];
  for (let i = 0; i <= last; i++) {
    if (lines[i].trim() === '') continue;
    try {
      out.push(JSON.parse(lines[i]));
    } catch (e) {
      if (o.appendOnly && i === last) {
        (o.warn ?? warnStderr)(`${path}:${i + 1}: skipped a torn last line (a run stopped while writing it)`);
        break;
      }
      throw new Error(`${path}:${i + 1}: not valid JSON (${(e as Error).message})`);
    }
  }
  return out;
}

/**
 * Before appending to an append-only JSONL file: cuts a torn last line (no final newline), so the
 * next line does not join it. Returns whether it cut one.
 */
export function trimTornLine(path: string, warn: (message: string) => void = warnStderr): boolean {
  if (!existsSync(path)) return false;
  const fd = openSync(path, 'r+');
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return false;
    // Read back from the end to the last newline.
    const chunk = Buffer.alloc(Math.min(size, 1 << 16));
    let end = size;
    while (end > 0) {
      const n = Math.min(chunk.length, end);
      readSync(fd, chunk, 0, n, end - n);
      const nl = chunk.subarray(0, n).lastIndexOf(10);
      if (nl >= 0) {
        const keep = end - n + nl + 1;
        if (keep === size) return false;
        ftruncateSync(fd, keep);
        warn(`${path}: cut a torn last line of ${size - keep} bytes (a run stopped while writing it)`);
        return true;
      }
      end -= n;
    }
    ftruncateSync(fd, 0);
    warn(`${path}: cut a torn last line of ${size} bytes (a run stopped while writing it)`);
    return true;
  } finally {
    closeSync(fd);
  }
}

function warnStderr(message: string): void {
  process.stderr.write(`warning: ${message}\n`);
}
