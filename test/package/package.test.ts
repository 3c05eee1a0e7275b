// d2c as a user gets it: `npm pack`, `npm install <tarball>` in a new folder outside the clone, then
// the `d2c` command, a plain .mjs import, the README's example, a .ts checked against the
// declarations, and imports that spawn nothing. Slow (it builds dist/ and the addon): not part of
// `npm test`; `npm run test:package`, which .ci/run runs as its own step.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { makeColourFolder } from '../helpers/colour_folder.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const work = mkdtempSync(join(tmpdir(), 'd2c-package-'));
const project = join(work, 'project');
after(() => rmSync(work, { recursive: true, force: true }));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  seconds: number;
}

/**
 * The install finds the libtorch the clone was built against: a venv's python (the clone's .venv) is
 * put first on PATH, as a user's would be; $LIBTORCH passes through. So CI installs torch once.
 */
function installEnv(): NodeJS.ProcessEnv {
  const stamp = JSON.parse(readFileSync(join(ROOT, 'native', 'build', 'stamp.json'), 'utf8')) as { python: string | null };
  if (!stamp.python || !isAbsolute(stamp.python)) return process.env;
  return { ...process.env, PATH: `${dirname(stamp.python)}:${process.env.PATH}` };
}
const ENV = installEnv();

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Run {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd ?? project,
    env: opts.env ?? ENV,
    encoding: 'utf8',
    // Only a guard against a hang: on a free machine the install (the addon's build) takes minutes.
    timeout: 90 * 60e3,
  });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, seconds: (performance.now() - t0) / 1000 };
}

function ok(r: Run, what: string): Run {
  assert.equal(r.code, 0, `${what} failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

interface PackInfo {
  filename: string;
  size: number;
  unpackedSize: number;
  entryCount: number;
  files: { path: string }[];
}
let pack: PackInfo;

before(() => {
  const out = ok(run('npm', ['pack', '--json', '--pack-destination', work], { cwd: ROOT }), 'npm pack');
  pack = (JSON.parse(out.stdout.slice(out.stdout.indexOf('['))) as PackInfo[])[0];
  console.log(`tarball ${pack.filename}: ${pack.size} bytes, ${pack.entryCount} files, ${pack.unpackedSize} unpacked`);
  mkdirSync(project);
  ok(run('npm', ['init', '-y']), 'npm init');
  const install = ok(run('npm', ['install', '--no-audit', '--no-fund', join(work, pack.filename)]), 'npm install <tarball>');
  console.log(`npm install <tarball>: ${install.seconds.toFixed(1)} s`);
});

test('the tarball holds the package, not the clone', () => {
  const paths = pack.files.map((f) => f.path);
  for (const p of ['dist/pipeline/index.js', 'dist/pipeline/index.d.ts', 'dist/torch/index.d.ts', 'dist/cli/main.js'])
    assert.ok(paths.includes(p), `${p} missing from the tarball`);
  for (const p of [
    'scripts/install.mjs',
    'native/addon.cc',
    'native/binding.gyp',
    'models/d2c-fmnist/d2c.json',
    'models/d2c-emoji/d2c.json',
    'LICENSE',
  ])
    assert.ok(paths.includes(p), `${p} missing from the tarball`);
  const stray = paths.filter(
    (p) => /^(src|test|bench|scripts\/(?!install\.mjs)|native\/build)/.test(p) || (p.endsWith('.ts') && !p.endsWith('.d.ts')),
  );
  assert.deepEqual(stray, [], 'sources, tests or build outputs in the tarball');
});

test('npx d2c --help lists the commands', () => {
  const r = ok(run('npx', ['d2c', '--help']), 'npx d2c --help');
  assert.match(r.stdout, /Usage: d2c/);
  assert.match(r.stdout, /sample/);
});

test('npx d2c sample writes a PNG grid of four images with the shipped model, by name', async () => {
  ok(run('npx', ['d2c', 'sample', '--class', 'sneaker', '--n', '4', '--out', 'x.png', '--threads', '1']), 'npx d2c sample');
  const png = readFileSync(join(project, 'x.png'));
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const meta = await sharp(png).metadata();
  // make_grid of four 32×32 images in one row with 2-pixel padding
  assert.deepEqual([meta.format, meta.width, meta.height], ['png', 4 * 32 + 5 * 2, 32 + 2 * 2]);
});

test('npx d2c sample draws from the shipped colour model, by name', async () => {
  ok(
    run('npx', ['d2c', 'sample', '--model', 'd2c-emoji', '--class', 'flags', '--n', '2', '--out', 'e.png', '--threads', '1']),
    'npx d2c sample',
  );
  const meta = await sharp(readFileSync(join(project, 'e.png'))).metadata();
  assert.deepEqual([meta.format, meta.width, meta.channels], ['png', 2 * 32 + 3 * 2, 3]);
});

test('a plain .mjs imports D2C from d2c and generates with the model defaults', () => {
  writeFileSync(
    join(project, 'gen.mjs'),
    `import { D2C } from 'd2c';
import * as torch from 'd2c/torch';
torch.setNumThreads(1);
const d2c = D2C.fromPretrained('d2c-fmnist');
const { images } = d2c.generate({ classes: [d2c.classIndex('sneaker'), d2c.classIndex('bag')], seed: 0 });
console.log(JSON.stringify(images.shape));
`,
  );
  const r = ok(run(process.execPath, ['gen.mjs']), 'node gen.mjs');
  assert.equal(r.stdout.trim(), '[2,1,32,32]');
});

test("the README's library example runs as written", () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const example = [...readme.matchAll(/^```ts\n([\s\S]*?)^```/gm)].map((m) => m[1]).find((b) => b.includes("from 'd2c'"));
  assert.ok(example, "README.md has no ```ts block that imports from 'd2c'");
  writeFileSync(join(project, 'readme.mjs'), example);
  // One OpenMP thread: a second one spins beside a busy core (docs/install.md, --threads 1).
  ok(run(process.execPath, ['readme.mjs'], { env: { ...ENV, OMP_NUM_THREADS: '1' } }), 'the README example');
});

test('a .ts file type-checks against the declarations, and a wrong one does not', () => {
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'nodenext',
        target: 'es2022',
        strict: true,
        noEmit: true,
        types: ['node'],
        typeRoots: [join(ROOT, 'node_modules', '@types')],
      },
      files: ['use.ts'],
    }),
  );
  writeFileSync(
    join(project, 'use.ts'),
    `import { D2C, type GenerateOptions, type GenerateResult } from 'd2c';
import * as torch from 'd2c/torch';
const o: GenerateOptions = { classes: [7], seed: 1, stage2: { steps: 4 } };
const r: GenerateResult = D2C.fromPretrained('d2c-fmnist').generate(o);
const shape: number[] = r.images.shape;
const t: torch.Tensor = torch.zeros([2, 2]);
console.log(shape, t.shape);
`,
  );
  ok(run(process.execPath, [TSC, '-p', '.']), 'tsc on use.ts');
  writeFileSync(join(project, 'use.ts'), `import { D2C } from 'd2c';\nconst s: string = D2C.fromPretrained('d2c-fmnist');\n`);
  const bad = run(process.execPath, [TSC, '-p', '.']);
  assert.notEqual(bad.code, 0, 'tsc accepted a D2C as a string: the declarations are untyped');
  assert.match(bad.stdout, /TS2322/);
});

test("the d2c command (npm's symlink) serves the page without esbuild, its model worker started from the compiled files", async () => {
  const child = spawn(join(project, 'node_modules', '.bin', 'd2c'), ['serve', '--port', '0', '--threads', '1'], {
    env: ENV,
    cwd: project,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    const url = await new Promise<string>((res, rej) => {
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => {
        out += d;
        const m = out.match(/(http:\/\/\S+)/);
        if (m) res(m[1]);
      });
      child.stderr.on('data', (d) => {
        err += d;
      });
      child.on('exit', (code) => rej(new Error(`d2c serve exited (${code}):\n${out}\n${err}`)));
    });
    const info = (await (await fetch(new URL('api/info', url))).json()) as { name: string; classes: string[] };
    assert.equal(info.name, 'd2c-fmnist');
    assert.ok(info.classes.includes('Sneaker'));
    // The page's script was bundled when the package was built: esbuild is not installed here.
    assert.match(await (await fetch(url)).text(), /d2c-web\.js/);
    const script = await fetch(new URL('d2c-web.js', url));
    assert.equal(script.status, 200);
    assert.ok((await script.text()).length > 1000);
  } finally {
    child.kill('SIGTERM');
  }
});

test('export-web without its optional packages says what to install', () => {
  const r = run('npx', ['d2c', 'export-web', '--out', 'site']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^d2c: onnxruntime-web is not installed; .*run npm install onnxruntime-web/m);
  assert.equal(existsSync(join(project, 'site', 'model')), false, 'it traced before checking');
});

test('fit --jobs 2 from the compiled files: phase children and decode workers start from dist/', async () => {
  const data = join(work, 'images');
  await makeColourFolder(data, { classes: ['birds', 'cars'], perClass: 4 });
  const fit = ['d2c', 'fit', '--data', data, '--out', 'fitted', '--size', '32', '--steps-scale', '0.001'];
  const r = ok(run('npx', [...fit, '--per-class', '1', '--threads', '1', '--jobs', '2']), 'npx d2c fit --jobs 2');
  assert.match(r.stderr, /\[5\/7\] stage-2 MAR: in its own process/);
  assert.ok(existsSync(join(project, 'fitted', 'samples.png')));
});

test("import('d2c') and import('d2c/torch') spawn nothing and install nothing", () => {
  // A PATH of traps: each tool a user's install could reach writes its name and fails.
  const bin = join(work, 'trap-bin');
  const log = join(work, 'spawned.log');
  mkdirSync(bin);
  for (const tool of ['npm', 'npx', 'pip', 'pip3', 'python', 'python3', 'apt-get', 'apt', 'node-gyp', 'make', 'g++', 'cc']) {
    writeFileSync(join(bin, tool), `#!/bin/sh\necho ${tool} >> ${log}\nexit 1\n`);
    chmodSync(join(bin, tool), 0o755);
  }
  symlinkSync(process.execPath, join(bin, 'node'));
  const env = { HOME: process.env.HOME, PATH: bin };
  const imports = `await import('d2c'); const torch = await import('d2c/torch'); console.log(torch.zeros([3]).shape[0]);`;
  const r = ok(run(join(bin, 'node'), ['--input-type=module', '-e', imports], { env }), 'the imports');
  assert.equal(r.stdout.trim(), '3');

  // Without the addon, the import fails saying what to run, and builds nothing.
  const addon = join(project, 'node_modules', 'd2c', 'native', 'build', 'Release', 'd2c_native.node');
  renameSync(addon, `${addon}.away`);
  try {
    const missing = run(join(bin, 'node'), ['--input-type=module', '-e', imports], { env });
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /native addon is not built .*npm rebuild d2c/);
    assert.equal(existsSync(addon), false, 'the import built the addon');
  } finally {
    renameSync(`${addon}.away`, addon);
  }
  assert.equal(existsSync(log) ? readFileSync(log, 'utf8') : '', '', 'the imports spawned these');
});
