// libtorch's operator profiler through the addon: the ops a function ran, backward included, with
// counts and self/total times, optionally split by input shapes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as torch from '../src/torch/index.ts';

test('profile lists the forward and backward ops a function ran, with counts and times', () => {
  torch.setNumThreads(1);
  const w = torch.keep(torch.randn([64, 32]).requiresGrad_());
  const x = torch.keep(torch.randn([8, 32]));
  const { result, ops } = torch.profile(() =>
    torch.tidy(() => {
      for (let i = 0; i < 3; i++) torch.F.linear(x, w).relu().sum().backward();
      return 7;
    }),
  );
  assert.equal(result, 7);
  const byName = new Map(ops.map((o) => [o.name, o]));
  assert.equal(byName.get('aten::relu')?.count, 3);
  assert.ok(byName.has('AddmmBackward0') || byName.has('MmBackward0'), `backward ops missing: ${[...byName.keys()].join(', ')}`);
  for (const o of ops) assert.ok(o.selfMs >= 0 && o.totalMs >= o.selfMs - 1e-9, `${o.name}: self ${o.selfMs} total ${o.totalMs}`);
  assert.ok(ops[0].selfMs >= ops[ops.length - 1].selfMs, 'sorted by self time');
  assert.match(torch.formatProfile(ops, 5), /^op\s+calls\s+self ms/);
  torch.dispose([w, x]);
});

test('with shapes, one row per input shape; nesting a profile is an error and the profiler recovers', () => {
  const { ops } = torch.profile(
    () =>
      torch.tidy(() => {
        torch.ones([2, 3]).exp();
        torch.ones([4]).exp();
      }),
    { shapes: true },
  );
  const exps = ops.filter((o) => o.name.startsWith('aten::exp ')).map((o) => o.name);
  assert.deepEqual(exps.sort(), ['aten::exp [2, 3]', 'aten::exp [4]']);
  assert.throws(() => torch.profile(() => torch.profile(() => 0)), /already running/);
  assert.equal(torch.profile(() => 1).result, 1); // the outer profile stopped despite the throw
});
