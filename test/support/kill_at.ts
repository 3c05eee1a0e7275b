// Preloaded (`node --import`) into a `d2c train` child by test/train_kill.test.ts: the process kills
// itself with SIGKILL at one chosen moment of its file writing, as `kill -9` would land there, with
// no timing luck. KILL_AT is JSON {op, path, nth, chunk?}; `path` is a regular expression:
//   write   the nth opening of a matching file, at its `chunk`-th write (default 1): half is written
//   rename  the nth rename whose source matches: killed before it renames
//   append  the nth append to a matching file: half the text is appended
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';

interface KillAt {
  op: 'write' | 'rename' | 'append';
  path: string;
  nth: number;
  chunk?: number;
}

const spec = JSON.parse(process.env.KILL_AT ?? 'null') as KillAt | null;
if (spec) install(spec);

function die(what: string): never {
  process.stderr.write(`kill_at: SIGKILL ${what}\n`);
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable');
}

function install(k: KillAt): void {
  const re = new RegExp(k.path);
  let seen = 0;
  const orig = { openSync: fs.openSync, writeSync: fs.writeSync, renameSync: fs.renameSync, appendFileSync: fs.appendFileSync };
  if (k.op === 'write') {
    let target: number | null = null;
    let writes = 0;
    fs.openSync = ((path: fs.PathLike, ...rest: unknown[]) => {
      const fd = (orig.openSync as (...a: unknown[]) => number)(path, ...rest);
      if (re.test(String(path)) && ++seen === k.nth) target = fd;
      return fd;
    }) as typeof fs.openSync;
    fs.writeSync = ((fd: number, buf: Uint8Array, ...rest: unknown[]) => {
      if (fd === target && ++writes === (k.chunk ?? 1)) {
        orig.writeSync(fd, buf, 0, Math.floor(buf.length / 2));
        die(`half-way through write ${writes} of the file opened ${k.nth}× matching ${k.path}`);
      }
      return (orig.writeSync as (...a: unknown[]) => number)(fd, buf, ...rest);
    }) as typeof fs.writeSync;
  } else if (k.op === 'rename') {
    fs.renameSync = (from: fs.PathLike, to: fs.PathLike) => {
      if (re.test(String(from)) && ++seen === k.nth) die(`before renaming ${from} to ${to}`);
      orig.renameSync(from, to);
    };
  } else {
    fs.appendFileSync = ((path: fs.PathOrFileDescriptor, data: string, ...rest: unknown[]) => {
      if (re.test(String(path)) && ++seen === k.nth) {
        orig.appendFileSync(path, data.slice(0, Math.floor(data.length / 2)));
        die(`half-way through append ${k.nth} to ${path}`);
      }
      (orig.appendFileSync as (...a: unknown[]) => void)(path, data, ...rest);
    }) as typeof fs.appendFileSync;
  }
  // ES module imports of node:fs (`import { renameSync }`) read the patched functions from here on.
  syncBuiltinESMExports();
}
