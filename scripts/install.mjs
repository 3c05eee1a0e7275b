#!/usr/bin/env node
// Prepares d2c's native addon: npm runs this as the package's `install` script (again with
// `npm rebuild d2c`); in a clone, scripts/setup.mjs runs it. It finds libtorch — $LIBTORCH (an
// unpacked distribution), else the `torch` package (>= 2.1) of `python3` on PATH, else a venv of its
// own with `pip install torch` — and builds native/ with node-gyp against it. Nothing else is
// installed: gloo's headers (torch.distributed) are an explicit step (docs/install.md).
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const log = (msg) => process.stderr.write(`[d2c install] ${msg}\n`);

/** A git clone (npm runs this script on `npm install` there too), not an installed package. */
const CLONE = existsSync(join(root, '.git'));

/** Where `pip install torch` goes when no torch is found: a cache folder shared by every install. */
function defaultVenv() {
  // A clone keeps its venv inside (.venv, git-ignored), as it always has.
  if (CLONE) return join(root, '.venv');
  const cache = process.env.D2C_CACHE_DIR || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'd2c');
  return join(cache, 'torch-venv');
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], cwd: root, ...opts });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')} could not start: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed with exit code ${r.status}`);
}

/** Asks a Python interpreter for its torch; null when it has none (or one older than 2.1). */
function torchOfPython(python) {
  const code =
    'import os, torch; print(os.path.dirname(torch.__file__)); print(torch.__version__); ' +
    'print(int(torch._C._GLIBCXX_USE_CXX11_ABI))';
  try {
    const out = execFileSync(python, ['-c', code], { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim()
      .split('\n');
    const [major, minor] = out[1].split('.').map(Number);
    if (major < 2 || (major === 2 && minor < 1)) {
      log(`${python} has torch ${out[1]}, older than 2.1: not used`);
      return null;
    }
    return { root: out[0], version: out[1], abi: out[2], python, source: `torch ${out[1]} of ${python}` };
  } catch {
    return null;
  }
}

function findLibtorch(venv, pipPackages) {
  const env = process.env.LIBTORCH;
  if (env) {
    if (!existsSync(join(env, 'include', 'torch'))) {
      throw new Error(`LIBTORCH=${env} is not an unpacked libtorch (no include/torch inside)`);
    }
    let version = 'unknown';
    const vfile = join(env, 'build-version');
    if (existsSync(vfile)) version = readFileSync(vfile, 'utf8').trim();
    return { root: env, version, abi: process.env.LIBTORCH_CXX11_ABI ?? '1', python: null, source: `LIBTORCH=${env}` };
  }
  const venvPython = join(venv, 'bin', 'python');
  const found = torchOfPython('python3') ?? (existsSync(venvPython) ? torchOfPython(venvPython) : null);
  if (found) return found;
  log(`no torch found: creating ${venv} and running pip install torch`);
  try {
    if (!existsSync(venvPython)) run('python3', ['-m', 'venv', venv]);
    // Unreachable indexes fail fast instead of retrying; a configured mirror still answers.
    run(venvPython, ['-m', 'pip', 'install', '--retries', '0', '--timeout', '20', 'torch', ...pipPackages]);
  } catch (e) {
    throw new Error(
      `no libtorch: ${e.message}. Set LIBTORCH to an unpacked libtorch, or install torch for python3 ` +
        '(pip install torch), then run npm rebuild d2c',
    );
  }
  const venvTorch = torchOfPython(venvPython);
  if (!venvTorch) throw new Error(`pip install torch finished but torch cannot be imported from ${venv}`);
  return venvTorch;
}

function buildFlags(torch) {
  const lib = join(torch.root, 'lib');
  const includes = [join(torch.root, 'include'), join(torch.root, 'include', 'torch', 'csrc', 'api', 'include')];
  const libs = [`-L${lib}`, `-Wl,-rpath,${lib}`, '-Wl,--no-as-needed', '-ltorch', '-ltorch_cpu', '-lc10'];
  if (existsSync(join(lib, 'libtorch_cuda.so'))) libs.push('-ltorch_cuda', '-lc10_cuda');
  libs.push('-Wl,--as-needed');
  return { includes, libs };
}

/** gloo's headers: $GLOO_INCLUDE, else /usr/include (Debian's libgloo-dev). */
export const glooInclude = () => process.env.GLOO_INCLUDE ?? '/usr/include';

/**
 * Whether torch.distributed (native/distributed.cc) can be built: c10d's headers in libtorch, gloo's
 * own headers, and a libtorch built with distributed support. Returns the reason when not, and the
 * addon gets native/distributed_stub.cc instead.
 */
function distributedSupport(torch) {
  const lib = join(torch.root, 'lib');
  const c10d = join(torch.root, 'include', 'torch', 'csrc', 'distributed', 'c10d', 'ProcessGroupGloo.hpp');
  if (!existsSync(c10d)) return { ok: false, reason: `libtorch at ${torch.root} has no c10d headers (${c10d})` };
  const gloo = glooInclude();
  if (!existsSync(join(gloo, 'gloo', 'context.h'))) {
    return { ok: false, reason: `gloo's headers are missing (no ${gloo}/gloo/context.h): install libgloo-dev` };
  }
  let symbols = '';
  try {
    symbols = execFileSync('nm', ['-D', '--defined-only', join(lib, 'libtorch_cpu.so')], {
      stdio: ['ignore', 'pipe', 'ignore'],
      maxBuffer: 1 << 30,
    }).toString();
  } catch {
    return { ok: false, reason: `cannot list the symbols of ${lib}/libtorch_cpu.so (is binutils' nm installed?)` };
  }
  if (!symbols.includes('ProcessGroupGloo')) {
    return { ok: false, reason: `libtorch at ${torch.root} was built without distributed (Gloo) support` };
  }
  // third-party headers as system includes, so -Wall -Wextra speak only of d2c's own code
  // (/usr/include already is one: naming it again would break the order of #include_next)
  const flags = ['-DUSE_DISTRIBUTED', '-DUSE_C10D_GLOO', ...(gloo === '/usr/include' ? [] : ['-isystem', gloo])];
  const cuda = existsSync(join(lib, 'libtorch_cuda.so')) && symbols.includes('ProcessGroupNCCL');
  const ncclInclude = join(torch.root, '..', 'nvidia', 'nccl', 'include');
  if (cuda && existsSync(join(ncclInclude, 'nccl.h'))) flags.push('-DUSE_C10D_NCCL', '-DD2C_NCCL', '-isystem', ncclInclude);
  return { ok: true, flags, nccl: flags.includes('-DD2C_NCCL') };
}

function sourcesHash(torch, dist) {
  const h = createHash('sha256');
  const dir = join(root, 'native');
  for (const f of readdirSync(dir).sort()) {
    if (/\.(cc|h|gyp)$/.test(f)) h.update(f).update(readFileSync(join(dir, f)));
  }
  h.update(torch.root).update(torch.version).update(process.version);
  h.update(JSON.stringify(dist));
  return h.digest('hex');
}

function buildAddon(torch, quiet) {
  const addon = join(root, 'native', 'build', 'Release', 'd2c_native.node');
  const stampFile = join(root, 'native', 'build', 'stamp.json');
  const dist = distributedSupport(torch);
  const hash = sourcesHash(torch, dist);
  if (existsSync(addon) && existsSync(stampFile)) {
    const stamp = JSON.parse(readFileSync(stampFile, 'utf8'));
    if (stamp.hash === hash) return false;
  }
  const { includes, libs } = buildFlags(torch);
  if (!dist.ok) log(`torch.distributed left out: ${dist.reason}`);
  const nodedir = resolve(dirname(process.execPath), '..');
  if (!existsSync(join(nodedir, 'include', 'node', 'node_api.h'))) {
    throw new Error(`Node headers not found under ${nodedir}/include/node (needed to build the addon offline)`);
  }
  // node-gyp is a dependency of d2c: found from here whether npm hoisted it or not.
  const nodeGyp = realpathSync(createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js'));
  log(`building the native addon against ${torch.source} (about a minute)`);
  // Build in a staging folder and rename the result into place, so processes that load the
  // addon meanwhile never see a missing or half-written file.
  const staging = join(root, 'native', 'build-staging');
  mkdirSync(staging, { recursive: true });
  for (const f of readdirSync(join(root, 'native'))) {
    if (/\.(cc|h|gyp)$/.test(f)) copyFileSync(join(root, 'native', f), join(staging, f));
  }
  run(process.execPath, [nodeGyp, 'rebuild', `--nodedir=${nodedir}`, '-j', '2'], {
    cwd: staging,
    stdio: ['ignore', quiet ? 'ignore' : 'inherit', 'inherit'],
    env: {
      ...process.env,
      D2C_TORCH_INCLUDES: includes.flatMap((dir) => ['-isystem', dir]).join(' '),
      D2C_TORCH_LIBS: libs.join(' '),
      D2C_CXX11_ABI: torch.abi,
      D2C_DIST_SOURCE: dist.ok ? 'distributed.cc' : 'distributed_stub.cc',
      D2C_DIST_FLAGS: dist.ok ? dist.flags.join(' ') : '',
    },
  });
  mkdirSync(dirname(addon), { recursive: true });
  const tmp = `${addon}.tmp-${process.pid}`;
  copyFileSync(join(staging, 'build', 'Release', 'd2c_native.node'), tmp);
  renameSync(tmp, addon);
  mkdirSync(dirname(stampFile), { recursive: true });
  writeFileSync(stampFile, JSON.stringify({ hash, ...torch, distributed: dist }, null, 2));
  return true;
}

/**
 * Finds libtorch and builds the addon unless it is up to date. `venv`: where pip installs torch when
 * none is found; `pipPackages`: what it installs beside torch (a clone's Python scripts and
 * reference fixtures use numpy and safetensors).
 */
export function prepareNative({ quiet = false, venv = defaultVenv(), pipPackages = CLONE ? ['numpy', 'safetensors'] : [] } = {}) {
  const torch = findLibtorch(venv, pipPackages);
  if (!quiet) log(`libtorch: ${torch.source} (${torch.root})`);
  const built = buildAddon(torch, quiet);
  if (!quiet) log(built ? 'native addon built' : 'native addon up to date');
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    prepareNative({ quiet: process.argv.includes('--quiet') });
  } catch (e) {
    log(`failed: ${e.message}`);
    log('d2c cannot run without its native addon; see docs/install.md, then run npm rebuild d2c');
    process.exit(1);
  }
}
