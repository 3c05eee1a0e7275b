// The export commands' packages are optional peers of d2c (esbuild and onnxruntime-web weigh about
// 150 MB): loaded on first use, and when one is missing the error says what to install.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** The packages `d2c export` and `d2c export-web` load, and what each is for. */
export const OPTIONAL_PACKAGES = {
  protobufjs: 'encoding ONNX files (d2c export, d2c export-web)',
  esbuild: 'bundling the page (d2c export-web)',
  'onnxruntime-web': "the browser's ONNX Runtime (d2c export-web)",
} as const;
export type OptionalPackage = keyof typeof OPTIONAL_PACKAGES;

function missing(name: OptionalPackage, e: unknown): Error {
  const err = e as NodeJS.ErrnoException;
  if (err?.code !== 'MODULE_NOT_FOUND' || !err.message.includes(`'${name}`)) return err as Error;
  return new Error(`${name} is not installed; d2c needs it for ${OPTIONAL_PACKAGES[name]}: run npm install ${name}`);
}

/** `require(name)` of an optional package, with an error naming the command to run when it is absent. */
export function requireOptional<T>(name: OptionalPackage): T {
  try {
    return require(name) as T;
  } catch (e) {
    throw missing(name, e);
  }
}

/** The resolved entry file of an optional package (same error when absent). */
export function resolveOptional(name: OptionalPackage): string {
  try {
    return require.resolve(name);
  } catch (e) {
    throw missing(name, e);
  }
}
