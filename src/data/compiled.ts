// d2c runs as TypeScript sources under tsx (a clone) or as the package's compiled JavaScript (dist/,
// the same folder layout). A module that names another file by its .ts source, to start it as a
// worker, a child process or a bundle entry, gets the form that exists here.

/** Whether this process runs the package's compiled JavaScript rather than the sources. */
export const COMPILED = import.meta.url.endsWith('.js');

/** `url`, a .ts file of src/, as it runs: itself from the sources, its .js sibling from dist/. */
export function runnableUrl(url: URL): URL {
  return COMPILED ? new URL(url.href.replace(/\.ts$/, '.js')) : url;
}
