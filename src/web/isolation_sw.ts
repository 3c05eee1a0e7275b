// The service worker of `d2c export-web`'s site (coi-sw.js): it re-serves the site's own responses
// with the COOP/COEP headers that make the page cross-origin isolated, which a plain static server
// does not send. Isolation gives the page SharedArrayBuffer, and so ONNX Runtime Web's wasm threads.
// (The approach of coi-serviceworker; written here for this site, which fetches only its own files.)

/** The parts of the service-worker scope this file uses (the page's tsconfig has DOM types only). */
interface FetchEvent extends Event {
  readonly request: Request;
  respondWith(r: Promise<Response>): void;
}
interface ServiceWorkerScope {
  skipWaiting(): Promise<void>;
  readonly clients: { claim(): Promise<void> };
  addEventListener(type: 'install' | 'activate', fn: (e: Event & { waitUntil(p: Promise<unknown>): void }) => void): void;
  addEventListener(type: 'fetch', fn: (e: FetchEvent) => void): void;
}

const sw = self as unknown as ServiceWorkerScope;

/** The response with the headers of cross-origin isolation added. */
export function isolated(r: Response): Response {
  if (r.status === 0) return r; // opaque: its headers cannot be set
  const headers = new Headers(r.headers);
  headers.set('Cross-Origin-Opener-Policy', 'same-origin');
  headers.set('Cross-Origin-Embedder-Policy', 'require-corp');
  headers.set('Cross-Origin-Resource-Policy', 'same-origin');
  return new Response(r.body, { status: r.status, statusText: r.statusText, headers });
}

sw.addEventListener('install', (e) => e.waitUntil(sw.skipWaiting()));
sw.addEventListener('activate', (e) => e.waitUntil(sw.clients.claim()));
sw.addEventListener('fetch', (e) => {
  // a request the browser may only answer from its cache, for another origin, is not ours to wrap
  if (e.request.cache === 'only-if-cached' && e.request.mode !== 'same-origin') return;
  e.respondWith(fetch(e.request).then(isolated));
});
