// Memory: scopes free what they should and keep what they return, and a long training loop keeps
// the live-tensor count and the RSS flat (DESIGN: "A long training run must keep both flat").
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { addResidual } from '../src/nn/layers.ts';
import type { Tensor } from '../src/torch/index.ts';
import * as torch from '../src/torch/index.ts';

describe('scopes', () => {
  test('tidy disposes intermediates and keeps (nested) results', () => {
    const before = torch.liveTensors();
    const kept = torch.tidy(() => {
      const a = torch.ones([3]);
      const inner = torch.tidy(() => a.add(1).mul(2)); // survives the inner scope
      const pair = { sum: inner.sum(), list: [inner.exp()] };
      return pair;
    });
    assert.equal(kept.sum.item(), 12);
    assert.equal(torch.liveTensors(), before + 2, 'only the two returned tensors remain');
    torch.dispose(kept);
    assert.equal(torch.liveTensors(), before);
    assert.ok(kept.sum.isDisposed && kept.list[0].isDisposed);
  });
  test('keep takes a tensor out of the scope; dispose is idempotent', () => {
    const before = torch.liveTensors();
    let kept: Tensor | null = null;
    torch.tidy(() => {
      kept = torch.keep(torch.zeros([2]));
      torch.zeros([5]);
    });
    assert.equal(torch.liveTensors(), before + 1);
    kept!.dispose();
    kept!.dispose();
    assert.equal(torch.liveTensors(), before);
  });
  test('a throwing tidy still frees its tensors', () => {
    const before = torch.liveTensors();
    assert.throws(() =>
      torch.tidy(() => {
        torch.ones([4]);
        throw new Error('boom');
      }),
    );
    assert.equal(torch.liveTensors(), before);
  });
  test('liveBytes follows allocation and disposal', () => {
    const before = torch.liveBytes();
    const big = torch.zeros([1024, 256]);
    assert.ok(torch.liveBytes() - before >= 1024 * 256 * 4, `liveBytes grew by ${torch.liveBytes() - before}`);
    big.dispose();
    assert.ok(torch.liveBytes() - before < 1024 * 256 * 4);
  });
  test('views keep their storage alive after the base is disposed', () => {
    const base = torch.arange(4, undefined, 1, { dtype: 'float32' });
    const v = base.view(2, 2);
    base.dispose();
    assert.deepEqual(v.toArray(), [0, 1, 2, 3]);
    v.dispose();
  });

  test('release disposes a temporary of the innermost scope and nothing else', () => {
    const kept = torch.keep(torch.ones([2]));
    const unscoped = torch.ones([2]);
    torch.tidy(() => {
      const outer = torch.ones([2]);
      torch.tidy(() => {
        const temp = outer.add(1);
        assert.equal(torch.release(temp), true);
        assert.ok(temp.isDisposed);
        assert.equal(torch.release(temp), false, 'already disposed');
        for (const t of [kept, unscoped, outer]) assert.equal(torch.release(t), false);
        for (const t of [kept, unscoped, outer]) assert.ok(!t.isDisposed);
      });
    });
    assert.equal(torch.release(unscoped), false, 'no scope: the caller owns it');
    torch.dispose([kept, unscoped]);
  });

  test('addResidual releases the branch; gradients still reach what it was computed from', () => {
    const w = torch.keep(torch.tensor([1, 2, 3]).requiresGrad_());
    const before = torch.liveTensors();
    torch.tidy(() => {
      const x = torch.tensor([1, 1, 1]);
      const branch = x.mul(w).mul(2);
      const out = addResidual(x, branch);
      assert.ok(branch.isDisposed);
      assert.deepEqual(out.toArray(), [3, 5, 7]);
      out.sum().backward();
      const same = addResidual(x, x); // a branch that is x itself is not released
      assert.ok(!x.isDisposed);
      assert.deepEqual(same.toArray(), [2, 2, 2]);
    });
    assert.deepEqual(w.grad?.toArray(), [2, 2, 2]);
    assert.equal(torch.liveTensors(), before + 1, 'only w.grad is new');
    torch.dispose([w.grad, w]);
  });
});

/** A 2-layer MLP trained with aten::_fused_adamw_, as src/optim does it. */
function makeTrainer(seed: number) {
  const g = new torch.Generator(seed);
  const [D, H, C, B] = [32, 64, 4, 16];
  // built in a scope so that the unscaled randn draws are freed now, not at some GC
  const params = torch.tidy(() => [
    torch.randn([H, D], { generator: g }).mul(D ** -0.5),
    torch.zeros([H]),
    torch.randn([C, H], { generator: g }).mul(H ** -0.5),
    torch.zeros([C]),
  ]);
  for (const p of params) p.requiresGrad = true;
  const expAvg = torch.keep(params.map((p) => torch.zerosLike(p)));
  const expAvgSq = torch.keep(params.map((p) => torch.zerosLike(p)));
  const steps = torch.keep(params.map(() => torch.zeros([])));
  const x = torch.keep(torch.randn([B, D], { generator: g }));
  const y = torch.keep(torch.randint(0, C, [B], { generator: g }));
  const step = (): number =>
    torch.tidy(() => {
      const [w1, b1, w2, b2] = params;
      const h = torch.F.gelu(torch.F.linear(x, w1, b1)); // [B, H]
      const loss = torch.F.crossEntropy(torch.F.linear(h, w2, b2), y);
      loss.backward();
      const grads = params.map((p) => p.grad!);
      torch.noGrad(() => {
        for (const s of steps) s.add_(1);
        torch.callOpVoid(
          'aten::_fused_adamw_',
          params,
          grads,
          expAvg,
          expAvgSq,
          [],
          steps,
          3e-3,
          0.9,
          0.99,
          0.01,
          1e-8,
          false,
          false,
        );
      });
      for (const p of params) p.grad = null;
      return loss.item();
    });
  const free = () => torch.dispose([params, expAvg, expAvgSq, steps, x, y]);
  return { step, free };
}

describe('long training loop', () => {
  test('2,000 AdamW steps inside tidy: live tensors unchanged, RSS grows < 50 MB, the loss falls', () => {
    // Tiny ops: intra-op threads only add contention on a shared 2-core machine (~50x slower).
    const threads = torch.getNumThreads();
    torch.setNumThreads(1);
    const before = torch.liveTensors();
    const trainer = makeTrainer(0);
    const first = trainer.step();
    for (let i = 0; i < 99; i++) trainer.step(); // warm-up: allocator pools, op caches
    const live = torch.liveTensors();
    const rss = process.memoryUsage().rss;
    let last = first;
    for (let i = 0; i < 2000; i++) {
      last = trainer.step();
      if (i % 500 === 0) assert.equal(torch.liveTensors(), live, `live tensors changed at step ${i}`);
    }
    const grown = (process.memoryUsage().rss - rss) / 2 ** 20;
    assert.equal(torch.liveTensors(), live);
    assert.ok(grown < 50, `RSS grew by ${grown.toFixed(1)} MB`);
    assert.ok(last < first * 0.5, `loss ${first} -> ${last}`);
    trainer.free();
    assert.equal(torch.liveTensors(), before);
    torch.setNumThreads(threads);
  });
});

describe('V8 external memory', () => {
  const script = new URL('./support/gc_pressure.ts', import.meta.url).pathname;
  const out = execFileSync(process.execPath, ['--single-threaded-gc', '--trace-gc', '--import', 'tsx', script], {
    encoding: 'utf8',
  });

  test('scoped tensors are not reported to V8: churning 2.5 GB inside tidy starts no full GC', () => {
    const scoped = out.slice(out.indexOf('scoped:begin'), out.indexOf('scoped:end'));
    assert.ok(scoped.length > 0, out);
    // before, every ~64 MB of activations counted as GC pressure: a mark-compact every few steps
    assert.equal(scoped.match(/Mark-Compact/g)?.length ?? 0, 0, scoped);
  });

  test('tensors left to the GC are reported, so dropping them makes V8 collect them', () => {
    const alive = Number(/dropped-alive (\d+)/.exec(out)?.[1]);
    assert.ok(alive < 100, `${alive} of 120 dropped 8 MB tensors still alive`);
  });
});
