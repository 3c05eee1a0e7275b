// One phase of a multi-phase command run in a child process (`d2c fit --jobs N`): the parent passes
// its stop requests on over IPC, and a child stops (saving) when its parent asks or goes away.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runnableUrl } from '../data/compiled.ts';
import type { StopSignal } from '../train/stop.ts';

/** The `d2c` program; the child runs under the same Node flags (tsx's hooks from the sources). */
const MAIN = fileURLToPath(runnableUrl(new URL('./main.ts', import.meta.url)));

/** Runs `d2c ...args` as a child with the same Node flags; rejects unless it exits with 0. */
export function runChild(label: string, args: string[], stop: StopSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, MAIN, ...args], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const unsubscribe = stop.onStop(() => {
      if (child.connected) child.send({ stop: true });
    });
    child.on('error', (e) => {
      unsubscribe();
      reject(new Error(`${label}: could not start a child process (${e.message})`));
    });
    child.on('exit', (code, signal) => {
      unsubscribe();
      if (code === 0) resolve();
      else reject(new Error(`${label}: its process ${signal ? `was killed by ${signal}` : `exited with code ${code}`}`));
    });
  });
}

/** In a child: a parent's stop message, or the parent's end, is a stop request. */
export function listenToParent(stop: StopSignal): void {
  if (!process.send) return;
  process.on('message', (m: { stop?: boolean }) => {
    if (m?.stop) stop.request();
  });
  process.on('disconnect', () => stop.request());
  process.channel?.unref();
}
