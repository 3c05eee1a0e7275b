// Ops added after the first engine pass: any/all, remainder, tril/triu, logicalXor, seeded dropout,
// and the error for a string that is neither a dtype nor a device.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as torch from '../src/torch/index.ts';

test('any/all, remainder (Python sign), tril/triu, logicalXor', () => {
  torch.tidy(() => {
    const x = torch.tensor([
      [1, -2],
      [3, 4],
    ]);
    assert.equal(x.gt(0).any().item(), 1);
    assert.equal(x.gt(0).all().item(), 0);
    assert.deepEqual(x.gt(0).all(1).toArray(), [0, 1]);
    assert.deepEqual(x.remainder(3).toArray(), [1, 1, 0, 1]); // -2 mod 3 = 1, as Python
    assert.deepEqual(x.tril().toArray(), [1, 0, 3, 4]);
    assert.deepEqual(x.triu(1).toArray(), [0, -2, 0, 0]);
    assert.deepEqual(x.gt(0).logicalXor(x.gt(2)).toArray(), [1, 0, 0, 0]);
  });
});

test('dropout with a generator is reproducible, scales kept values, and keeps the gradient path', () => {
  torch.tidy(() => {
    const x = torch.ones([1000], { requiresGrad: true });
    const a = torch.F.dropout(x, 0.25, true, new torch.Generator(5));
    const b = torch.F.dropout(x, 0.25, true, new torch.Generator(5));
    assert.deepEqual(a.toArray(), b.toArray());
    const vals = new Set(a.toArray().map((v) => +v.toFixed(5)));
    assert.deepEqual([...vals].sort(), [0, 1.33333]);
    const kept = a.gt(0).sum().item();
    assert.ok(kept > 680 && kept < 820, `kept ${kept} of 1000 at p = 0.25`);
    a.sum().backward();
    assert.deepEqual(x.grad!.toArray(), a.detach().toArray());
    assert.deepEqual(torch.F.dropout(x, 0.25, false).toArray(), x.detach().toArray());
  });
});

test('to() names a string that is neither a dtype nor a device', () => {
  assert.throws(() => torch.ones([1]).to('float128' as never), /'float128' is neither a dtype .* nor a device/);
});
