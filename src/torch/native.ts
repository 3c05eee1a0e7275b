// Loads the native addon. It is built at install time (scripts/install.mjs), never here: a missing
// or broken addon is an error saying what to run.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A tensor id in the addon's slot table (generation * 2^24 + slot). */
export type Handle = number;
/** An opaque native generator. */
export type GeneratorHandle = object;

export interface Native {
  op(name: string, overload: string): number;
  call(id: number, ...args: unknown[]): unknown;
  callVoid(id: number, ...args: unknown[]): void;
  schema(id: number): string;
  /** One letter per return: 't' tensor, 'l' tensor list, 'o' other. */
  returnKinds(id: number): string;
  free(h: Handle): boolean;
  /** Reports the tensor's bytes to V8 (external memory) until it is freed: for tensors the GC frees. */
  watch(h: Handle): boolean;
  isLive(h: Handle): boolean;
  shape(h: Handle): number[];
  strides(h: Handle): number[];
  /** [dtype code, device, requiresGrad, isLeaf, ndim] */
  meta(h: Handle): [number, string, boolean, boolean, number];
  dtype(h: Handle): number;
  isContiguous(h: Handle): boolean;
  fromBuffer(data: ArrayBufferView | ArrayBuffer, shape: number[], dtype: number): Handle;
  toBuffer(h: Handle): ArrayBuffer;
  item(h: Handle): number | boolean;
  setRequiresGrad(h: Handle, on: boolean): void;
  grad(h: Handle): Handle | null;
  setGrad(h: Handle, g: Handle | null): void;
  retainGrad(h: Handle): void;
  gradFnName(h: Handle): string | null;
  backward(ts: Handle[], grads: (Handle | null)[] | null, retain: boolean | null, create: boolean): void;
  autogradGrad(
    outputs: Handle[],
    inputs: Handle[],
    gradOutputs: (Handle | null)[] | null,
    retain: boolean | null,
    create: boolean,
    allowUnused: boolean,
  ): (Handle | null)[];
  setGradEnabled(on: boolean): boolean;
  isGradEnabled(): boolean;
  newGenerator(device: string, seed: number): GeneratorHandle;
  defaultGenerator(device: string): GeneratorHandle;
  generatorSeed(g: GeneratorHandle, seed: number): void;
  generatorGetState(g: GeneratorHandle): Handle;
  generatorSetState(g: GeneratorHandle, state: Handle): void;
  manualSeed(seed: number): void;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  cudaDeviceCount(): number;
  liveTensors(): number;
  liveBytes(): number;
  version(): string;
  /** glibc mallopt(M_MMAP_THRESHOLD, M_TRIM_THRESHOLD); false where the C library is not glibc. */
  tuneAllocator(mmapThreshold: number, trimThreshold: number): boolean;
  profilerStart(withShapes: boolean): void;
  /** [name, count, totalUs, selfUs] per operator name, in first-seen order. */
  profilerStop(): [string, number, number, number][];
  /** Installs the caching CPU allocator (native/cpu_cache.cc) once; later calls reconfigure it. */
  cpuCacheInstall(minBytes: number, limitBytes: number): void;
  /** [cachedBytes, cachedBlocks, liveBytes, hits, misses, minBytes, limitBytes], null when not installed. */
  cpuCacheStats(): [number, number, number, number, number, number, number] | null;
  /** Frees every cached block back to the C library. */
  cpuCacheRelease(): void;
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const addonPath = join(root, 'native', 'build', 'Release', 'd2c_native.node');

/** What builds the addon: npm's install script for the package, setup.mjs in a clone. */
const BUILD_COMMAND = existsSync(join(root, 'scripts', 'setup.mjs')) ? 'node scripts/setup.mjs' : 'npm rebuild d2c';

/** Requires the addon at `path`, or throws an error that says what is wrong and what to run. */
export function requireAddon(path: string): Native {
  const rebuild = `run \`${BUILD_COMMAND}\` (it finds libtorch: $LIBTORCH, the torch of python3, or pip install torch)`;
  if (!existsSync(path)) throw new Error(`d2c's native addon is not built (${path} is missing): ${rebuild}`);
  try {
    return createRequire(import.meta.url)(path) as Native;
  } catch (e) {
    throw new Error(`d2c's native addon at ${path} does not load (${(e as Error).message}): ${rebuild}`);
  }
}

function load(): Native {
  const addon = requireAddon(addonPath);
  let malloc: 'tuned' | 'system';
  try {
    malloc = mallocPolicy(process.env.D2C_MALLOC);
  } catch (e) {
    // as below: a module load cannot report cleanly, so warn and keep the default
    malloc = 'tuned';
    process.stderr.write(`d2c: warning: ${(e as Error).message}; using the tuned allocator\n`);
  }
  if (malloc === 'tuned') {
    addon.tuneAllocator(ALLOCATOR.mmapThreshold, ALLOCATOR.trimThreshold);
    let limit: number;
    try {
      limit = cpuCacheLimit(process.env.D2C_CPU_CACHE_MB);
    } catch (e) {
      // loading a module is no place to throw from (a CLI could not report it cleanly): warn, use the default
      limit = cpuCacheLimit(undefined);
      process.stderr.write(`d2c: warning: ${(e as Error).message}; using ${ALLOCATOR.cacheLimitMB}\n`);
    }
    if (limit > 0) addon.cpuCacheInstall(ALLOCATOR.cacheMinBytes, limit);
  }
  return addon;
}

/**
 * Allocator policy applied at load (D2C_MALLOC=system keeps glibc's defaults and no cache). Under the
 * defaults a freed activation buffer goes back to the kernel and the next step faults it in again
 * page by page (~10k page faults per attention-block training step here); with blocks up to 32 MiB
 * (glibc's ceiling) served from the heap and 1 GiB of free heap kept before trimming, steady-state
 * steps fault almost nothing. On top, tensors of cacheMinBytes and more come from the caching CPU
 * allocator (native/cpu_cache.cc): the most recently freed block of the size, still warm in the CPU
 * caches, on transparent huge pages; it keeps up to D2C_CPU_CACHE_MB (default 1024, 0 = off) freed.
 */
export const ALLOCATOR = {
  mmapThreshold: 32 * 2 ** 20,
  trimThreshold: 2 ** 30,
  cacheMinBytes: 256 * 2 ** 10,
  cacheLimitMB: 1024,
} as const;

/** D2C_MALLOC: unset (the tuned allocator and cache) or `system` (glibc's defaults, no cache). */
export function mallocPolicy(env: string | undefined): 'tuned' | 'system' {
  if (env === undefined || env === '') return 'tuned';
  if (env === 'system') return 'system';
  throw new Error(`D2C_MALLOC must be unset or 'system' (glibc's defaults, no cache), got '${env}'`);
}

/** The cache's byte limit from D2C_CPU_CACHE_MB (unset: the default; 0: no cache). */
export function cpuCacheLimit(env: string | undefined): number {
  if (env === undefined || env === '') return ALLOCATOR.cacheLimitMB * 2 ** 20;
  const mb = Number(env);
  if (!/^\s*[0-9.eE+]+\s*$/.test(env) || !Number.isFinite(mb) || mb < 0) {
    throw new Error(`D2C_CPU_CACHE_MB must be a number of MiB >= 0 (0 turns the cache off), got '${env}'`);
  }
  return Math.floor(mb * 2 ** 20);
}

export const native: Native = load();
