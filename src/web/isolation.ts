// Cross-origin isolation for the exported page (see isolation_sw.ts): registers the service worker
// and reloads once under it. Without isolation, or where a browser forbids service workers (a
// file:// page, a private window), the page runs as before on one wasm thread.

const RELOADED = 'd2c-isolation-reload';

/** Resolves true when the page is isolated; may instead reload the page (then never resolves). */
export async function crossOriginIsolation(): Promise<boolean> {
  if (self.crossOriginIsolated) {
    sessionStorage.removeItem(RELOADED);
    return true;
  }
  if (!('serviceWorker' in navigator) || !isSecureContext) return false;
  // once per tab: a worker that is in control yet does not isolate must not reload forever
  if (sessionStorage.getItem(RELOADED)) return false;
  try {
    await navigator.serviceWorker.register('coi-sw.js');
    await navigator.serviceWorker.ready;
  } catch {
    return false;
  }
  sessionStorage.setItem(RELOADED, '1');
  location.reload();
  return new Promise<boolean>(() => {});
}

/** ONNX Runtime Web's wasm threads: `?threads=N` if given, else every core when isolated, else 1. */
export function wasmThreads(isolated: boolean): number {
  const asked = Number(new URLSearchParams(location.search).get('threads'));
  if (!isolated) return 1;
  if (Number.isInteger(asked) && asked >= 1) return asked;
  return Math.max(1, Math.min(navigator.hardwareConcurrency || 1, 8));
}
