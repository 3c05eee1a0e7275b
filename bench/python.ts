// The Python that runs the PyTorch twins (bench/torch/*.py).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const benchRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The Python whose torch the addon was built against (native/build/stamp.json), else the venv's, else python3. */
export function projectPython(): string {
  const stamp = join(benchRoot, 'native', 'build', 'stamp.json');
  if (existsSync(stamp)) {
    const python = (JSON.parse(readFileSync(stamp, 'utf8')) as { python?: string }).python;
    if (python && existsSync(python)) return python;
  }
  const venv = join(benchRoot, '.venv', 'bin', 'python');
  return existsSync(venv) ? venv : 'python3';
}
