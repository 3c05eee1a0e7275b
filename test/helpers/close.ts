// Value comparisons for engine tests: element-wise closeness with a message that names the worst element.
import assert from 'node:assert/strict';
import type { Tensor } from '../../src/torch/index.ts';

type Values = Tensor | ArrayLike<number>;

function values(v: Values): number[] {
  return 'toArray' in v && typeof v.toArray === 'function' ? v.toArray() : Array.from(v as ArrayLike<number>);
}

/** Asserts |a - b| <= atol + rtol * |b| element-wise (NaN only matches NaN), and equal lengths. */
export function assertClose(actual: Values, expected: Values, opts: { atol?: number; rtol?: number; what?: string } = {}): void {
  const a = values(actual);
  const b = values(expected);
  const atol = opts.atol ?? 1e-6;
  const rtol = opts.rtol ?? 1e-5;
  const what = opts.what ? `${opts.what}: ` : '';
  assert.equal(a.length, b.length, `${what}length ${a.length} != expected ${b.length}`);
  let worst = -1;
  let worstErr = 0;
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(b[i]) && Number.isNaN(a[i])) continue;
    const err = Math.abs(a[i] - b[i]) - (atol + rtol * Math.abs(b[i]));
    if (!(err <= 0) && (worst < 0 || !(err <= worstErr))) {
      worst = i;
      worstErr = err;
    }
  }
  if (worst >= 0) {
    assert.fail(`${what}element ${worst}: got ${a[worst]}, expected ${b[worst]} (atol ${atol}, rtol ${rtol})`);
  }
}

/** Asserts a tensor's shape. */
export function assertShape(t: Tensor, shape: number[], what = 'shape'): void {
  assert.deepEqual(t.shape, shape, `${what}: got [${t.shape}], expected [${shape}]`);
}
