// Parity of the diffusion head and the Gaussian diffusion with LTH14/mar (fixture mar_tiny).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DiffLoss } from '../src/generators/diffloss.ts';
import { createDiffusion, spaceTimesteps } from '../src/generators/diffusion.ts';
import * as torch from '../src/torch/index.ts';

// Tiny models: one thread avoids OpenMP oversubscription on the shared 2-core runner (10x here).
torch.setNumThreads(1);

const DIR = new URL('./fixtures/reference/', import.meta.url).pathname;
const io = torch.loadSafetensors(`${DIR}mar_tiny.io.safetensors`);
const weights = torch.loadSafetensors(`${DIR}mar_tiny.weights.safetensors`);
const get = (k: string) => {
  const t = io.get(k);
  if (!t) throw new Error(`fixture lacks ${k}`);
  return t;
};

/** max|a-b| <= tol * max(1, max|b|) */
function close(a: torch.Tensor, b: torch.Tensor, name: string, tol = 1e-4): void {
  assert.deepEqual(a.shape, b.shape, `${name}: shape`);
  const diff = a.double().sub(b.double()).abs().max().item();
  const scale = Math.max(1, b.double().abs().max().item());
  assert.ok(diff <= tol * scale, `${name}: max diff ${diff} > ${tol} * ${scale}`);
}

function tinyDiffLoss(): DiffLoss {
  const dl = new DiffLoss({ targetChannels: 16, zChannels: 64, depth: 2, width: 64, numSamplingSteps: '10' });
  const sd = new Map([...weights].filter(([k]) => k.startsWith('diffloss.')).map(([k, v]) => [k.slice(9), v]));
  dl.loadStateDict(sd);
  return dl.eval();
}

test('train and respaced betas and the timestep map match the reference', () => {
  const train = createDiffusion('');
  close(torch.tensor(train.betas, { dtype: 'float64' }), get('train_betas'), 'train_betas', 1e-12);
  const gen = createDiffusion('10');
  close(torch.tensor(gen.betas, { dtype: 'float64' }), get('gen_betas'), 'gen_betas', 1e-12);
  assert.deepEqual(gen.timestepMap, get('gen_timestep_map').toArray());
  // IDDPM's section strides: "100" keeps 0, 10, 20, 30, 40, 50, 61, ... (999/99 per step, rounded).
  assert.deepEqual(spaceTimesteps(1000, '100').slice(0, 7), [0, 10, 20, 30, 40, 50, 61]);
  assert.equal(spaceTimesteps(1000, '100').at(-1), 999);
  assert.deepEqual(spaceTimesteps(10, '2,3'), [0, 4, 5, 7, 9]);
  assert.deepEqual(spaceTimesteps(1000, 'ddim4'), [0, 250, 500, 750]);
  assert.throws(() => spaceTimesteps(10, '7,3'), /cannot take 7 steps from a section of 5/);
});

test('SimpleMLPAdaLN forward and forward_with_cfg match the reference', () => {
  torch.tidy(() => {
    const dl = tinyDiffLoss();
    close(dl.net.forward(get('diff_xt'), get('diff_t'), get('diff_c')), get('diff_net_out'), 'diff_net_out');
    const cfgOut = dl.net.forwardWithCfg(get('diff_cfg_x'), get('diff_cfg_t'), get('diff_cfg_c'), 2.5);
    close(cfgOut, get('diff_net_cfg_out'), 'diff_net_cfg_out');
  });
});

test('training losses (mse, vb, loss) match the reference for the given t and noise', () => {
  torch.tidy(() => {
    const dl = tinyDiffLoss();
    const c = get('diff_c');
    const r = dl.trainDiffusion.trainingLosses(
      (x, t) => dl.net.forward(x, t, c),
      get('diff_target'),
      get('diff_t'),
      get('diff_noise'),
    );
    close(r.mse, get('diff_loss_mse'), 'mse');
    close(r.vb, get('diff_loss_vb'), 'vb');
    close(r.loss, get('diff_loss'), 'loss');
  });
});

test('p_mean_variance of the respaced schedule matches the reference', () => {
  torch.tidy(() => {
    const dl = tinyDiffLoss();
    const c = get('diff_c');
    const out = dl.genDiffusion.pMeanVariance((x, t) => dl.net.forward(x, t, c), get('diff_xt'), get('gen_t'));
    close(out.mean, get('gen_mean'), 'mean');
    close(out.logVariance, get('gen_log_variance'), 'log_variance');
    close(out.predXstart, get('gen_pred_xstart'), 'pred_xstart');
  });
});

test('diffusion sampling is deterministic for a seed, uses the temperature, and frees its tensors', () => {
  const dl = tinyDiffLoss();
  const z = torch.keep(torch.randn([6, 64], { generator: new torch.Generator(1) }));
  const draw = (seed: number, temperature = 1, cfg = 1) =>
    torch.tidy(() => dl.sample(z, { temperature, cfg, generator: new torch.Generator(seed) }).toArray());
  const a = draw(7); // the first call also caches the schedule's coefficient tables
  const before = torch.liveTensors();
  assert.deepEqual(draw(7), a);
  assert.equal(torch.liveTensors(), before);
  assert.deepEqual(draw(7), a);
  assert.notDeepEqual(draw(8), a);
  assert.notDeepEqual(draw(7, 0.5), a);
  const g = draw(7, 1, 3.0);
  // With CFG both halves start from the same noise and share the guided ε, so they coincide in mean;
  // only their σ (and hence the later noise) differs.
  assert.equal(g.length, 6 * 16);
  assert.ok(g.every(Number.isFinite));
});
