// The `inception_fid` fixture's formula weights (test/fixtures/reference/README.md): every tensor of
// pytorch-fid's Inception state dict filled from a 32-bit integer hash of (element index, name rank),
// scaled by the tensor's role. The parity test, the conversion test and the benchmark use them.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.ts';

export const INCEPTION_KEYS = 'test/fixtures/reference/inception_fid_keys.json';

/** hashu(n, s) of the README: n values uniform in [−1, 1), as float64. */
export function hashu(n: number, s: number): Float64Array {
  const out = new Float64Array(n);
  const sTerm = Math.imul(s, 0x85ebca77) >>> 0;
  for (let j = 1; j <= n; j++) {
    let x = (Math.imul(j, 0x9e3779b1) + sTerm) >>> 0;
    x = (x ^ (x >>> 15)) >>> 0;
    x = Math.imul(x, 0x2c1b3c6d) >>> 0;
    x = (x ^ (x >>> 12)) >>> 0;
    x = Math.imul(x, 0x297a2d39) >>> 0;
    x = (x ^ (x >>> 15)) >>> 0;
    out[j - 1] = x / 2 ** 31 - 1;
  }
  return out;
}

/** The formula value of each element of tensor `name` (rank `s` in code-point order). */
function formula(name: string, shape: number[], s: number): Float32Array | BigInt64Array {
  const n = shape.reduce((a, b) => a * b, 1);
  if (name.endsWith('.bn.num_batches_tracked')) return new BigInt64Array(n);
  const v = hashu(n, s);
  let f: (x: number) => number;
  if (name.endsWith('.bn.weight')) f = (x) => 1 + 0.1 * x;
  else if (name.endsWith('.bn.bias') || name.endsWith('.bn.running_mean')) f = (x) => 0.02 * x;
  else if (name.endsWith('.bn.running_var')) f = (x) => 1 + 0.2 * Math.abs(x);
  else if (name === 'fc.weight') f = (x) => x / Math.sqrt(2048);
  else if (name === 'fc.bias') f = (x) => 0.1 * x;
  else if (name.endsWith('.conv.weight') && shape.length === 4) {
    const [, cin, kh, kw] = shape;
    const scale = Math.SQRT2 * Math.sqrt(3 / (cin * kh * kw));
    f = (x) => x * scale;
  } else throw new Error(`inception formula: no rule for ${name}`);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = f(v[i]);
  return out;
}

/** The fixture's names and shapes, in file order. */
export function inceptionKeys(): Record<string, number[]> {
  return JSON.parse(readFileSync(INCEPTION_KEYS, 'utf8')) as Record<string, number[]>;
}

/** The full formula state dict (566 tensors, unscoped: the caller disposes them). */
export function inceptionFormulaStateDict(opts: { withNumBatchesTracked?: boolean } = {}): Map<string, torch.Tensor> {
  const keys = inceptionKeys();
  const names = Object.keys(keys).sort();
  const sd = new Map<string, torch.Tensor>();
  names.forEach((name, s) => {
    if (name.endsWith('num_batches_tracked') && opts.withNumBatchesTracked === false) return;
    const data = formula(name, keys[name], s);
    sd.set(name, torch.fromBuffer(data, keys[name], data instanceof BigInt64Array ? 'int64' : 'float32'));
  });
  return sd;
}

/** A converted-weights folder (as convert_checkpoint.py --kind inception writes it) holding the formula weights. */
export function writeFormulaInceptionDir(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const sd = inceptionFormulaStateDict();
  torch.saveSafetensors(join(dir, 'model.safetensors'), sd, { format: 'pt' });
  torch.dispose([...sd.values()]);
  writeFileSync(join(dir, 'config.json'), `${JSON.stringify({ kind: 'inception', preset: 'pt_inception', config: {} })}\n`);
}
