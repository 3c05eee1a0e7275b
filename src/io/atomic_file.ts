// The one way d2c writes a file: to a temp file beside it, fsync, rename over the target, fsync the
// folder. A reader (or a run killed mid-write, or a power cut) sees the old file or the new one,
// whole, never a torn one; without the fsyncs a crash could leave the rename with empty contents.
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { threadId } from 'node:worker_threads';

/** Bytes, text (UTF-8), or a function that writes the file in pieces through `write`. */
export type FileContents = string | Uint8Array | ((write: (chunk: Uint8Array) => void) => void);

let tmpCount = 0;

/** Writes `path` atomically (temp file, fsync, rename, fsync of the folder), creating the folder. */
export function writeFileAtomic(path: string, contents: FileContents): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  // pid, thread and a counter: two writers of one path never share a temp file.
  const tmp = `${path}.tmp-${process.pid}-${threadId}-${tmpCount++}`;
  try {
    const fd = openSync(tmp, 'w');
    try {
      const write = (chunk: Uint8Array) => {
        for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off, chunk.length - off);
      };
      if (typeof contents === 'function') contents(write);
      else write(typeof contents === 'string' ? Buffer.from(contents, 'utf8') : contents);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(dir);
}

/** Makes a folder's entries (a rename into it) durable. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
