// Model folders by name or path. The package ships models in its own models/ folder, found from
// this file (src/pipeline or dist/pipeline, two levels down), so `d2c-fmnist` works from any
// directory; a folder of the user's own is a path, read from the current directory.
import { existsSync, readdirSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's own folder (the clone's root when run from the sources). */
export const PACKAGE_ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Where the shipped models lie: d2c-fmnist, fmnist-classifier. */
export const SHIPPED_MODELS_DIR = join(PACKAGE_ROOT, 'models');

/** The names of the shipped model folders. */
export function shippedModels(): string[] {
  if (!existsSync(SHIPPED_MODELS_DIR)) return [];
  return readdirSync(SHIPPED_MODELS_DIR, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

/** A bare name (`d2c-fmnist`), as opposed to a path (`./mine`, `runs/x`, `/abs`). */
function isBareName(s: string): boolean {
  return s !== '' && s !== '.' && s !== '..' && !s.includes('/') && !isAbsolute(s);
}

/**
 * The folder `nameOrPath` stands for: the path itself when it exists (from the current directory),
 * else, for a bare name, the shipped model of that name. Anything else is returned unchanged, so the
 * loader reports the folder the user named.
 */
export function resolveModelDir(nameOrPath: string): string {
  if (existsSync(nameOrPath) || !isBareName(nameOrPath)) return nameOrPath;
  const shipped = join(SHIPPED_MODELS_DIR, nameOrPath);
  return existsSync(shipped) ? resolve(shipped) : nameOrPath;
}

/** ' (shipped models: a, b)' for an error about a bare name that is neither a folder nor shipped. */
export function shippedHint(nameOrPath: string): string {
  return isBareName(nameOrPath) ? ` (nor a model shipped with d2c: ${shippedModels().join(', ') || 'none'})` : '';
}
