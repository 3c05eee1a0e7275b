// safetensors: the reference fixtures load with the right names, shapes and values; d2c's files
// read back exactly; Python-written files are read; d2c writes Python's bytes exactly.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { DType, Tensor } from '../src/torch/index.ts';
import * as torch from '../src/torch/index.ts';

const FIX = join(import.meta.dirname, 'fixtures');
const REF = join(FIX, 'reference');
const PY_DTYPES = join(FIX, 'safetensors', 'python_dtypes.safetensors');
const tmp = mkdtempSync(join(tmpdir(), 'd2c-st-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

interface Stat {
  dtype: DType;
  shape: number[];
  sum: number;
  abs_sum: number;
}
const STATS = JSON.parse(readFileSync(join(FIX, 'safetensors_stats.json'), 'utf8')) as Record<string, Record<string, Stat>>;

/** The tensors of scripts/fixtures/safetensors_dtypes.py, built the same way here. */
function recipe(): Map<string, Tensor> {
  const t = torch.tensor;
  return new Map<string, Tensor>([
    ['flag', torch.callOp<Tensor>('aten::remainder.Scalar', torch.arange(6), 3).eq(0).view(2, 3)],
    ['u8', t([0, 1, 128, 255], { dtype: 'uint8' })],
    ['i8', t([-128, 0, 127], { dtype: 'int8' })],
    ['i16', t([-32768, -1, 1, 32767], { dtype: 'int16' }).view(2, 2)],
    ['i32', t([-(2 ** 31), 0, 2 ** 31 - 1], { dtype: 'int32' })],
    ['i64', torch.tensor(new BigInt64Array([-(2n ** 40n) - 1n, 0n, 2n ** 53n - 1n]))],
    ['f16', torch.arange(6, undefined, 1, { dtype: 'float64' }).sub(2.5).mul(0.5).to('float16').view(2, 3)],
    ['bf16', t([-1.5, 0.0078125, 65536], { dtype: 'bfloat16' })],
    ['f32', torch.arange(8, undefined, 1, { dtype: 'float64' }).div(8).sub(0.3).to('float32').view(2, 2, 2)],
    ['f64', t([0.1, -1e300], { dtype: 'float64' })],
    ['scalar', torch.scalarTensor(3.25)],
    ['empty', torch.zeros([0, 4])],
    ['layers.10.w', t([10])],
    ['layers.2.w', t([2])],
  ]);
}

function assertSameTensor(a: Tensor, b: Tensor, what: string): void {
  assert.equal(a.dtype, b.dtype, `${what}: dtype`);
  assert.deepEqual(a.shape, b.shape, `${what}: shape`);
  const [ba, bb] = [Buffer.from(a.contiguous().toTypedArray().buffer), Buffer.from(b.contiguous().toTypedArray().buffer)];
  assert.ok(ba.equals(bb), `${what}: bytes differ`);
}

describe('reference fixtures', () => {
  const files = readdirSync(REF).filter((f) => f.endsWith('.safetensors'));
  test('every fixture file has stats (regenerate with scripts/fixtures/safetensors_stats.py)', () => {
    assert.deepEqual(files.sort(), Object.keys(STATS).sort());
  });
  for (const file of files) {
    test(`${file}: names, dtypes, shapes, sums and abs-sums`, () => {
      torch.tidy(() => {
        const loaded = torch.loadSafetensors(join(REF, file));
        const stats = STATS[file];
        assert.deepEqual([...loaded.keys()].sort(), Object.keys(stats).sort());
        for (const [name, t] of loaded) {
          const s = stats[name];
          assert.equal(t.dtype, s.dtype, `${name}: dtype`);
          assert.deepEqual(t.shape, s.shape, `${name}: shape`);
          const d = t.to('float64');
          const tol = 1e-9 * Math.max(1, s.abs_sum);
          assert.ok(Math.abs(d.sum().item() - s.sum) <= tol, `${name}: sum ${d.sum().item()} vs ${s.sum}`);
          assert.ok(
            Math.abs(d.abs().sum().item() - s.abs_sum) <= tol,
            `${name}: abs-sum ${d.abs().sum().item()} vs ${s.abs_sum}`,
          );
        }
      });
    });
  }
  test('names and shapes match each NAME.json (weights and io)', () => {
    for (const json of readdirSync(REF).filter((f) => f.endsWith('.json'))) {
      const spec = JSON.parse(readFileSync(join(REF, json), 'utf8')) as {
        weights?: Record<string, number[]>;
        io?: Record<string, [number[], string]>;
      };
      const base = json.replace(/\.json$/, '');
      const check = (file: string, expected: Record<string, number[]>) => {
        const header = torch.readHeader(join(REF, file));
        assert.deepEqual([...header.tensors.keys()].sort(), Object.keys(expected).sort(), `${file}: names`);
        for (const [name, shape] of Object.entries(expected))
          assert.deepEqual(header.tensors.get(name)?.shape, shape, `${file}: ${name}`);
      };
      if (spec.weights) check(`${base}.weights.safetensors`, spec.weights);
      if (spec.io) {
        check(`${base}.io.safetensors`, Object.fromEntries(Object.entries(spec.io).map(([k, [shape]]) => [k, shape])));
        const header = torch.readHeader(join(REF, `${base}.io.safetensors`));
        for (const [name, [, dtype]] of Object.entries(spec.io)) {
          assert.equal(`torch.${header.tensors.get(name)?.dtype}`, dtype, `${base}.io: ${name} dtype`);
        }
      }
    }
  });
  test('loading a subset reads only what is asked; an unknown name is an error', () => {
    const path = join(REF, 'mar_tiny.weights.safetensors');
    const only = torch.loadSafetensors(path, { only: ['mask_token'] });
    assert.deepEqual([...only.keys()], ['mask_token']);
    assert.deepEqual(only.get('mask_token')?.shape, [1, 1, 64]);
    torch.dispose(only);
    assert.throws(() => torch.loadSafetensors(path, { only: ['nope'] }), /no tensor named 'nope'/);
  });
});

describe('Python-written file of every dtype', () => {
  test('reads with the recipe values exactly, and __metadata__', () => {
    torch.tidy(() => {
      const header = torch.readHeader(PY_DTYPES);
      assert.deepEqual(header.metadata, { format: 'pt' });
      const loaded = torch.loadSafetensors(PY_DTYPES);
      const expected = recipe();
      assert.deepEqual([...loaded.keys()].sort(), [...expected.keys()].sort());
      for (const [name, t] of expected) assertSameTensor(loaded.get(name)!, t, name);
      assert.deepEqual(loaded.get('i64')!.toArray(), [-(2 ** 40) - 1, 0, 2 ** 53 - 1]);
      assert.deepEqual(loaded.get('flag')!.toArray(), [1, 0, 0, 1, 0, 0]);
      assert.equal(loaded.get('scalar')!.item(), 3.25);
    });
  });
  test("d2c's writer produces Python's bytes exactly", () => {
    torch.tidy(() => {
      const out = join(tmp, 'd2c_dtypes.safetensors');
      torch.saveSafetensors(out, recipe(), { format: 'pt' });
      const [ours, theirs] = [readFileSync(out), readFileSync(PY_DTYPES)];
      const hdr = (b: Buffer) => b.subarray(8, 8 + Number(b.readBigUInt64LE(0))).toString('utf8');
      assert.equal(hdr(ours), hdr(theirs), 'headers differ');
      assert.ok(ours.equals(theirs), 'data sections differ');
    });
  });
});

describe('d2c round trip', () => {
  test('every dtype, non-contiguous views and __metadata__ read back exactly', () => {
    torch.tidy(() => {
      const g = new torch.Generator(11);
      const base = torch.randn([3, 4], { generator: g, dtype: 'float64' });
      const dtypes: DType[] = ['float32', 'float16', 'bfloat16', 'float64', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool'];
      const tensors = new Map<string, Tensor>(dtypes.map((d) => [`x.${d}`, base.mul(50).to(d)]));
      tensors.set('transposed', base.t());
      const meta = { step: '12', config: '{"a": [1, 2]}', ünïcode: 'ok' };
      const path = join(tmp, 'roundtrip.safetensors');
      torch.saveSafetensors(path, tensors, meta);
      assert.deepEqual(torch.readHeader(path).metadata, meta);
      const back = torch.loadSafetensors(path);
      assert.equal(back.size, tensors.size);
      for (const [name, t] of tensors) assertSameTensor(back.get(name)!, t, name);
    });
  });
  test('a plain object of tensors and no metadata also works; writes replace atomically', () => {
    const path = join(tmp, 'plain.safetensors');
    torch.tidy(() => torch.saveSafetensors(path, { a: torch.ones([2]) }));
    torch.tidy(() => torch.saveSafetensors(path, { b: torch.zeros([3]) }));
    assert.deepEqual(torch.readHeader(path).metadata, {});
    assert.deepEqual([...torch.readHeader(path).tensors.keys()], ['b']);
    assert.deepEqual(
      readdirSync(tmp).filter((f) => f.includes('.tmp')),
      [],
    );
  });
  test('truncated or garbage files are rejected with the path named', () => {
    const good = readFileSync(PY_DTYPES);
    const cut = join(tmp, 'cut.safetensors');
    writeFileSync(cut, good.subarray(0, good.length - 10));
    assert.throws(() => torch.readHeader(cut), /cut\.safetensors: not a valid safetensors file: .*truncated/);
    const junk = join(tmp, 'junk.safetensors');
    writeFileSync(junk, Buffer.from('hello world, not a tensor file'));
    assert.throws(() => torch.readHeader(junk), /junk\.safetensors: not a valid safetensors file/);
    const tiny = join(tmp, 'tiny.safetensors');
    writeFileSync(tiny, Buffer.from([1, 2]));
    assert.throws(() => torch.readHeader(tiny), /only 2 bytes/);
  });
});
