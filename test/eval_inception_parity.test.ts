// InceptionV3 (pytorch-fid's FID Inception) against the `inception_fid` fixture: with the fixture's
// formula weights, blocks 0–2 (first image), pool3 and the logits of both input sets (3 images of
// 64×64, resized to 299 on the way in, and 2 images of 299×299) match pytorch-fid's own outputs to
// max|a−b| ≤ 1e-4·max(1, max|b|); the state dict has exactly the fixture's names and shapes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InceptionV3 } from '../src/eval/inception.ts';
import * as torch from '../src/torch/index.ts';
import { inceptionFormulaStateDict, inceptionKeys } from './helpers/inception_formula.ts';

const IO = 'test/fixtures/reference/inception_fid_io.safetensors';

function assertRel(a: torch.Tensor, b: torch.Tensor, what: string, tol = 1e-4): void {
  assert.deepEqual(a.shape, b.shape, `${what}: shape [${a.shape}] vs [${b.shape}]`);
  const err = a.sub(b).abs().max().item();
  const scale = Math.max(1, b.abs().max().item());
  assert.ok(err <= tol * scale, `${what}: max|a-b| = ${err} > ${tol} * ${scale}`);
}

test('InceptionV3 has exactly the state-dict names and shapes of pt_inception-2015-12-05', () => {
  const net = new InceptionV3();
  const ours = Object.fromEntries([...net.stateDict()].map(([k, t]) => [k, t.shape]));
  const theirs = inceptionKeys();
  assert.deepEqual(Object.keys(ours).sort(), Object.keys(theirs).sort());
  for (const k of Object.keys(theirs)) assert.deepEqual(ours[k], theirs[k], k);
  torch.dispose([...net.stateDict().values()]);
});

test('InceptionV3 matches pytorch-fid on every block, pool3 and the logits (both input sets)', () => {
  torch.setNumThreads(2);
  const net = new InceptionV3();
  const sd = inceptionFormulaStateDict();
  net.loadStateDict(sd);
  torch.dispose([...sd.values()]);
  const io = torch.loadSafetensors(IO);
  const get = (k: string) => io.get(k) as torch.Tensor;
  torch.noGrad(() => {
    for (const set of ['small', 'full']) {
      torch.tidy(() => {
        const images = get(`${set}.images_u8`).to('float32').div(255); // pytorch-fid's ToTensor
        const out = net.forward(images, { blocks: [0, 1, 2], logits: true });
        const first = (t: torch.Tensor | null) => (t as torch.Tensor).narrow(0, 0, 1);
        assertRel(first(out.blocks[0]), get(`${set}.block0_first`), `${set} block0`);
        assertRel(first(out.blocks[1]), get(`${set}.block1_first`), `${set} block1`);
        assertRel(first(out.blocks[2]), get(`${set}.block2_first`), `${set} block2`);
        assertRel(out.pool3, get(`${set}.pool3`), `${set} pool3`);
        assertRel(out.logits as torch.Tensor, get(`${set}.logits`), `${set} logits`);
        // The Inception Score's logits leave out fc's bias.
        const bias = net.fc.bias as torch.Tensor;
        assertRel(net.unbiasedLogits(out.pool3).add(bias), get(`${set}.logits`), `${set} unbiased logits + bias`);
      });
    }
  });
  torch.dispose([...io.values()]);
});
