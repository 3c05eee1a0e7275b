// Parity of the diffusion head and the Gaussian diffusion with LTH14/mar (fixture mar_tiny).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
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

/** The tiny head, a condition for 6 rows (3 conditional, 3 unconditional), 3 latents and the timestep map. */
function denoiserCase() {
  const dl = tinyDiffLoss();
  const g = new torch.Generator(3);
  const c = torch.randn([6, 64], { generator: g });
  const x = torch.randn([3, 16], { generator: g });
  return { dl, c, x, map: dl.genDiffusion.timestepMap };
}

test('the sampling denoiser equals forward / forward_with_cfg at each respaced step', () => {
  torch.tidy(() => {
    const { dl, c, x, map } = denoiserCase();
    const xx = torch.cat([x, x], 0);
    for (const scale of [1, 2.5]) {
      const step = dl.net.sampler(c, map, scale);
      const rows = scale === 1 ? 6 : 3; // with guidance: the conditional half
      for (const i of [0, 4, 9]) {
        const { eps, v } = step(scale === 1 ? xx : x, i);
        const t = torch.full([6], map[i], { dtype: 'int64' });
        const ref = (scale === 1 ? dl.net.forward(xx, t, c) : dl.net.forwardWithCfg(xx, t, c, scale)).narrow(0, 0, rows);
        close(eps, ref.narrow(1, 0, 16), `eps (scale ${scale}, step ${i})`, 1e-5);
        close(v, ref.narrow(1, 16, 16), `v (scale ${scale}, step ${i})`, 1e-5);
      }
    }
  });
});

test('headPrecision bf16: the same denoiser in bfloat16, within bf16 rounding of float32, returned as float32', () => {
  torch.tidy(() => {
    const { dl, c, x, map } = denoiserCase();
    const ref = dl.net.sampler(c, map, 2.5);
    const low = torch.autocast('bf16', () => dl.net.sampler(c, map, 2.5));
    for (const i of [0, 4, 9]) {
      const a = ref(x, i);
      const b = torch.autocast('bf16', () => low(x, i));
      assert.equal(b.eps.dtype, 'float32');
      assert.equal(b.v.dtype, 'float32');
      // bf16 keeps 8 bits of mantissa: a few times 2^-8 of the values, through three layers
      close(b.eps, a.eps, `eps at step ${i}`, 0.05);
      close(b.v, a.v, `v at step ${i}`, 0.05);
      assert.ok(b.eps.sub(a.eps).abs().max().item() > 0, 'bf16 really ran');
    }
    // the whole draw: the same noise and steps; x updates in float32
    const opts = { cfg: 2.5, generator: new torch.Generator(1), clip: 4 };
    const fp32 = dl.sample(c, opts);
    const bf16 = dl.sample(c, { ...opts, generator: new torch.Generator(1), precision: 'bf16' });
    assert.equal(bf16.dtype, 'float32');
    close(bf16, fp32, 'samples', 0.1);
  });
});

test('auto precision: bf16 exactly where the CPU lists bf16 matrix instructions', () => {
  const flags = /^flags\s*:.*\b(avx512_bf16|amx_bf16)\b/m.test(readFileSync('/proc/cpuinfo', 'utf8'));
  assert.equal(torch.fastBf16('cpu'), flags);
  assert.equal(torch.resolvePrecision('auto'), flags ? 'bf16' : 'fp32');
  assert.equal(torch.resolvePrecision('auto', 'cuda:0'), 'fp32');
  assert.equal(torch.resolvePrecision('bf16'), 'bf16');
  assert.throws(() => torch.resolvePrecision('fp16' as never), /precision must be one of fp32, bf16, auto, got "fp16"/);
});

test('a sampling step is p_mean_variance plus σ·temperature·noise from the same random stream', () => {
  torch.tidy(() => {
    const d = createDiffusion('10');
    const g = new torch.Generator(5);
    const x = torch.randn([8, 4], { generator: g });
    const out = torch.randn([8, 8], { generator: g });
    const [eps, v] = out.split(4, 1);
    for (const i of [9, 3, 0]) {
      for (const clip of [0, 1.5]) {
        for (const mirrored of [false, true]) {
          const mine = d.pSampleStep(eps, v, x, i, { generator: new torch.Generator(11), temperature: 0.7, clip, mirrored });
          const ref = d.pMeanVarianceFromOutput(out, x, torch.full([8], i, { dtype: 'int64' }), clip);
          const noise = torch.randn([mirrored ? 16 : 8, 4], { generator: new torch.Generator(11) }).narrow(0, 0, 8);
          const expected = ref.mean.add(
            ref.logVariance
              .mul(0.5)
              .exp()
              .mul(noise)
              .mul(i === 0 ? 0 : 0.7),
          );
          close(mine, expected, `step ${i}, clip ${clip}, mirrored ${mirrored}`, 1e-5);
        }
      }
    }
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
  // With CFG, z holds conditional then unconditional rows; one latent per conditional row comes back.
  assert.equal(g.length, 3 * 16);
  assert.ok(g.every(Number.isFinite));
});
