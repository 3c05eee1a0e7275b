import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inceptionScore, kernelDistance, knnRadii, precisionRecall } from '../src/eval/metrics.ts';
import * as torch from '../src/torch/index.ts';

const close = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

test('IS of a uniform prediction is 1; of one-hot class-balanced predictions it is the class count', () => {
  torch.tidy(() => {
    const uniform = torch.full([200, 10], 0.1);
    close(inceptionScore(uniform, 4).mean, 1, 1e-12, 'uniform IS');
    const labels = torch.callOp('aten::remainder.Scalar', torch.arange(0, 200, 1, { dtype: 'int64' }), 10);
    const oneHot = torch.callOp('aten::one_hot', labels, 10).to('float32'); // [200, 10]
    const is = inceptionScore(oneHot, 4);
    close(is.mean, 10, 1e-9, 'one-hot IS');
    close(is.std, 0, 1e-9, 'one-hot IS std');
    // All samples predicting one class: IS 1.
    close(
      inceptionScore(torch.callOp('aten::one_hot', torch.zeros([50], { dtype: 'int64' }), 10).to('float32'), 1).mean,
      1,
      1e-12,
      'collapsed IS',
    );
  });
});

test('IS matches a direct float64 computation on random probabilities', () => {
  torch.tidy(() => {
    const g = new torch.Generator(1);
    const p = torch.randn([300, 7], { generator: g, dtype: 'float64' }).mul(2).softmax(-1);
    const py = p.mean(0, true);
    const kl = p.mul(p.log().sub(py.log())).sum(1).mean().item();
    close(inceptionScore(p, 1).mean, Math.exp(kl), 1e-12, 'IS');
  });
});

test('KID is ~0 (unbiased) for two samples of one distribution and positive for shifted features', () => {
  torch.tidy(() => {
    const g = new torch.Generator(2);
    const a = torch.randn([400, 8], { generator: g });
    const b = torch.randn([400, 8], { generator: g });
    const same = kernelDistance(a, b, { subsets: 20, subsetSize: 200, generator: new torch.Generator(0) });
    assert.ok(Math.abs(same.mean) < 0.01, `KID(same distribution) = ${same.mean}`);
    const shifted = kernelDistance(a, b.add(1), { subsets: 20, subsetSize: 200, generator: new torch.Generator(0) });
    assert.ok(shifted.mean > 0.5, `KID(shifted) = ${shifted.mean}`);
    assert.equal(shifted.values.length, 20);
    assert.ok(shifted.std > 0);
  });
});

test('KID of one subset equals the unbiased MMD² written out by loops', () => {
  torch.tidy(() => {
    const g = new torch.Generator(4);
    const a = torch.randn([6, 3], { generator: g, dtype: 'float64' });
    const b = torch.randn([6, 3], { generator: g, dtype: 'float64' }).add(0.5);
    const A = a.toArray();
    const B = b.toArray();
    const k = (x: number[], i: number, y: number[], j: number) =>
      ((x[i * 3] * y[j * 3] + x[i * 3 + 1] * y[j * 3 + 1] + x[i * 3 + 2] * y[j * 3 + 2]) / 3 + 1) ** 3;
    let xx = 0;
    let yy = 0;
    let xy = 0;
    for (let i = 0; i < 6; i++)
      for (let j = 0; j < 6; j++) {
        if (i !== j) {
          xx += k(A, i, A, j);
          yy += k(B, i, B, j);
        }
        xy += k(A, i, B, j);
      }
    const expected = xx / 30 + yy / 30 - (2 * xy) / 36;
    // A full-size subset is a permutation of each set, which leaves the MMD unchanged.
    close(kernelDistance(a, b, { subsets: 1 }).mean, expected, 1e-10, 'MMD²');
  });
});

test('precision and recall of two identical sets are 1; of disjoint sets 0', () => {
  torch.tidy(() => {
    const g = new torch.Generator(5);
    const x = torch.randn([300, 16], { generator: g });
    assert.deepEqual(precisionRecall(x, x.clone()), { precision: 1, recall: 1 });
    assert.deepEqual(precisionRecall(x, x.add(100)), { precision: 0, recall: 0 });
  });
});

test('precision stays high and recall drops when the generated set covers one mode of two', () => {
  torch.tidy(() => {
    const g = new torch.Generator(6);
    const modeA = torch.randn([200, 4], { generator: g });
    const modeB = torch.randn([200, 4], { generator: g }).add(20);
    const real = torch.cat([modeA, modeB], 0);
    const fake = torch.randn([400, 4], { generator: g }).mul(0.8); // only mode A, slightly narrower
    const { precision, recall } = precisionRecall(real, fake);
    assert.ok(precision > 0.95, `precision ${precision}`);
    assert.ok(recall < 0.55 && recall > 0.3, `recall ${recall}`);
  });
});

test('k-NN radii exclude the point itself', () => {
  torch.tidy(() => {
    const x = torch.tensor([[0], [1], [3], [7]]);
    assert.deepEqual(knnRadii(x, 1).toArray(), [1, 1, 2, 4]);
    assert.deepEqual(knnRadii(x, 2).toArray(), [3, 2, 3, 6]);
  });
});
