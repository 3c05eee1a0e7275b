// The diffusion head's deterministic solvers (DDIM, DPM-Solver++(2M)) and DiSA's step annealing:
// each solver against an independent float64 transcription of its reference on a Gaussian toy
// whose exact ε̂ is known, the annealed step counts, and guidance at the solvers' limit against a
// fine integration of the guided probability-flow ODE.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DiffLoss } from '../src/generators/diffloss.ts';
import { createDiffusion, type GaussianDiffusion, type StepDenoiser } from '../src/generators/diffusion.ts';
import { MAR, marConfig } from '../src/generators/mar.ts';
import { sampleTokens } from '../src/generators/mar_sample.ts';
import { annealedDiffusionSteps, solverCoefficients, solverStep } from '../src/generators/schedules.ts';
import * as torch from '../src/torch/index.ts';

torch.setNumThreads(1);

/** Data N(mu, s²) per element: with x_t = αx₀ + σε, E[ε | x_t] = σ(x_t − αμ)/(α²s² + σ²). */
interface Gaussian {
  mu: number;
  s: number;
}
const exactEps = (g: Gaussian, x: number, ac: number) => {
  const [alpha, sigma] = [Math.sqrt(ac), Math.sqrt(1 - ac)];
  return (sigma * (x - alpha * g.mu)) / (ac * g.s * g.s + 1 - ac);
};
/** Guided ε̂ = ε_u + w(ε_c − ε_u) of two Gaussians, one scalar. */
const guidedEps = (c: Gaussian, u: Gaussian, w: number) => (x: number, ac: number) =>
  exactEps(u, x, ac) + w * (exactEps(c, x, ac) - exactEps(u, x, ac));

/** The same ε̂ as a StepDenoiser over a [N, 1] tensor at the diffusion's respaced step i. */
function tensorDenoiser(d: GaussianDiffusion, c: Gaussian, u: Gaussian, w: number): StepDenoiser {
  const one = (g: Gaussian, x: torch.Tensor, ac: number) =>
    x.sub(Math.sqrt(ac) * g.mu).mul(Math.sqrt(1 - ac) / (ac * g.s * g.s + 1 - ac));
  return (x, i) => {
    const ac = d.alphasCumprod[i];
    const eu = one(u, x, ac);
    return { eps: eu.add(one(c, x, ac).sub(eu).mul(w)), v: torch.zerosLike(x) };
  };
}

/** guided_diffusion's ddim_sample (η = 0), transcribed in float64. */
function referenceDdim(d: GaussianDiffusion, eps: (x: number, ac: number) => number, x: number, clip = 0): number {
  const ac = d.alphasCumprod;
  for (let i = ac.length - 1; i >= 0; i--) {
    const acPrev = i === 0 ? 1 : ac[i - 1];
    const e = eps(x, ac[i]);
    let x0 = Math.sqrt(1 / ac[i]) * x - Math.sqrt(1 / ac[i] - 1) * e;
    if (clip > 0) x0 = Math.min(clip, Math.max(-clip, x0));
    const epsBack = (Math.sqrt(1 / ac[i]) * x - x0) / Math.sqrt(1 / ac[i] - 1);
    x = x0 * Math.sqrt(acPrev) + Math.sqrt(1 - acPrev) * epsBack;
  }
  return x;
}

/**
 * DPM-Solver's multistep_dpm_solver_second_update ('dpmsolver++', solver_type 'dpmsolver') with
 * lower_order_final, transcribed in float64: λ = log α − log σ, h = λ_t − λ_s, r0 = h₀/h.
 */
function referenceDpmSolverPP(d: GaussianDiffusion, eps: (x: number, ac: number) => number, x: number): number {
  const ac = d.alphasCumprod;
  const al = (a: number) => Math.sqrt(a);
  const sg = (a: number) => Math.sqrt(1 - a);
  const lam = (a: number) => Math.log(al(a)) - Math.log(sg(a));
  const predX0 = (xx: number, a: number) => (xx - sg(a) * eps(xx, a)) / al(a);
  let prev: { m: number; a: number } | null = null;
  for (let i = ac.length - 1; i >= 0; i--) {
    const m0 = predX0(x, ac[i]);
    if (i === 0) return m0; // to ᾱ = 1: σ_t = 0, x_t = x̂₀ (first order)
    const [s, t] = [ac[i], ac[i - 1]];
    const h = lam(t) - lam(s);
    const phi = Math.expm1(-h);
    if (prev === null) {
      x = (sg(t) / sg(s)) * x - al(t) * phi * m0;
    } else {
      const r0 = (lam(s) - lam(prev.a)) / h;
      const D1 = (1 / r0) * (m0 - prev.m);
      x = (sg(t) / sg(s)) * x - al(t) * phi * m0 - 0.5 * al(t) * phi * D1;
    }
    prev = { m: m0, a: s };
  }
  return x;
}

/**
 * The guided probability-flow ODE, integrated by RK4 in float64: in y = x/α and τ = σ/α it is
 * dy/dτ = ε̂ (DDIM's form), integrated in log τ from the first respaced step down to τ ≈ 0.
 */
function odeLimit(d: GaussianDiffusion, eps: (x: number, ac: number) => number, x: number): number {
  const acOf = (tau: number) => 1 / (1 + tau * tau);
  const f = (u: number, y: number) => {
    const tau = Math.exp(u);
    const ac = acOf(tau);
    return tau * eps(y * Math.sqrt(ac), ac);
  };
  const acT = d.alphasCumprod[d.alphasCumprod.length - 1];
  let y = x / Math.sqrt(acT);
  const [u0, u1, n] = [Math.log(Math.sqrt((1 - acT) / acT)), Math.log(1e-7), 20000];
  const h = (u1 - u0) / n;
  for (let k = 0; k < n; k++) {
    const u = u0 + k * h;
    const k1 = f(u, y);
    const k2 = f(u + h / 2, y + (h / 2) * k1);
    const k3 = f(u + h / 2, y + (h / 2) * k2);
    const k4 = f(u + h, y + h * k3);
    y += (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4);
  }
  return y;
}

const START = [-2.1, -0.7, 0, 0.4, 1.3, 2.6]; // x_T of six elements
const COND = { mu: 0.8, s: 0.3 };
const UNCOND = { mu: -0.2, s: 0.9 };

function solve(d: GaussianDiffusion, order: 1 | 2, w: number, clip = 0): number[] {
  return torch.tidy(() => {
    // float64: the first step's x̂₀ = (x − σε̂)/α, α ≈ 1e-4, cancels away float32's digits
    const x = torch.tensor(START, { dtype: 'float64' }).reshape(START.length, 1);
    return d
      .solverLoop(tensorDenoiser(d, COND, UNCOND, w), x, { order, clip })
      .reshape(-1)
      .toArray() as number[];
  });
}

function assertClose(got: number[], want: number[], tol: number, what: string): void {
  got.forEach((g, j) => {
    assert.ok(Math.abs(g - want[j]) <= tol, `${what}[${j}]: ${g} vs ${want[j]} (tol ${tol})`);
  });
}

test('DDIM matches guided_diffusion’s ddim_sample (η = 0), with and without the x̂₀ clip', () => {
  for (const steps of ['10', '25']) {
    const d = createDiffusion(steps);
    const eps = guidedEps(COND, UNCOND, 3);
    assertClose(
      solve(d, 1, 3),
      START.map((x) => referenceDdim(d, eps, x)),
      1e-9,
      `ddim ${steps}`,
    );
    assertClose(
      solve(d, 1, 3, 0.5),
      START.map((x) => referenceDdim(d, eps, x, 0.5)),
      1e-9,
      `ddim ${steps} clip`,
    );
  }
});

test('DPM-Solver++(2M) matches DPM-Solver’s multistep second-order update', () => {
  for (const steps of ['5', '10', '25']) {
    const d = createDiffusion(steps);
    const eps = guidedEps(COND, UNCOND, 3);
    assertClose(
      solve(d, 2, 3),
      START.map((x) => referenceDpmSolverPP(d, eps, x)),
      1e-9,
      `dpm-solver++ ${steps}`,
    );
  }
});

test('the scalar solver step (the browser’s) equals the tensor loop', () => {
  const d = createDiffusion('7');
  const eps = guidedEps(COND, UNCOND, 2);
  for (const order of [1, 2] as const) {
    const scalar = START.map((x0) => {
      let [x, prev]: [number, number | null] = [x0, null];
      for (let i = d.numTimesteps - 1; i >= 0; i--) {
        const k = solverCoefficients(d.alphasCumprod, i);
        if (order === 1) k.r = null;
        const s = solverStep(k, x, eps(x, d.alphasCumprod[i]), prev, 1.5);
        [x, prev] = [s.x, s.x0];
      }
      return x;
    });
    assertClose(solve(d, order, 2, 1.5), scalar, 1e-9, `order ${order}`);
  }
});

test('DiSA annealing: the diffusion steps of each AR step', () => {
  assert.deepEqual(annealedDiffusionSteps(25, 5, 4), [25, 18, 12, 5]);
  assert.deepEqual(annealedDiffusionSteps(8, 2, 2), [8, 2]);
  assert.deepEqual(annealedDiffusionSteps(10, 4, 7), [10, 9, 8, 7, 6, 5, 4]);
  assert.deepEqual(annealedDiffusionSteps(25, undefined, 3), [25, 25, 25]);
  assert.deepEqual(annealedDiffusionSteps(25, 5, 1), [25]); // one AR step: the first step's count
  assert.throws(() => annealedDiffusionSteps(25, 0, 4), /final diffusion steps must be a positive integer, got 0/);
  assert.throws(() => annealedDiffusionSteps(2.5, 1, 4), /diffusion steps must be a positive integer, got 2.5/);
});

test('guidance with either solver equals the guided ODE at the solver’s limit, and w = 1 is no guidance', () => {
  const full = createDiffusion(''); // all 1000 steps
  for (const w of [1, 3]) {
    const limit = START.map((x) => odeLimit(full, guidedEps(COND, UNCOND, w), x));
    assertClose(solve(full, 1, w), limit, 2e-3, `ddim w=${w}`);
    assertClose(solve(full, 2, w), limit, 2e-3, `dpm-solver++ w=${w}`);
  }
  // w = 1: the guided denoiser is the conditional one
  const cond = START.map((x) => odeLimit(full, (xx, ac) => exactEps(COND, xx, ac), x));
  assertClose(solve(full, 2, 1), cond, 2e-3, 'w=1');
});

test('DiffLoss.sample: a guided solver on [cond; uncond] rows equals guidance done by hand', () => {
  torch.tidy(() => {
    const g = new torch.Generator(3);
    const dl = new DiffLoss({ targetChannels: 4, zChannels: 8, depth: 2, width: 16, numSamplingSteps: '10' }, { generator: g });
    for (const p of dl.parameters()) torch.noGrad(() => p.copy_(torch.randn(p.shape, { generator: g }).mul(0.3)));
    dl.eval();
    const z = torch.randn([6, 8], { generator: g }); // 3 conditional rows, then 3 unconditional
    for (const sampler of ['ddim', 'dpm-solver++'] as const) {
      const got = dl.sample(z, { cfg: 2.5, sampler, steps: 6, generator: new torch.Generator(9), clip: 3, temperature: 0.9 });
      const d = dl.samplingDiffusion(6);
      const noise = torch.randn([3, 4], { generator: new torch.Generator(9) }).mul(0.9);
      const byHand: StepDenoiser = (x, i) => {
        const t = torch.full([3], d.timestepMap[i], { dtype: 'int64' });
        const ec = dl.net.forward(x, t, z.narrow(0, 0, 3)).narrow(1, 0, 4);
        const eu = dl.net.forward(x, t, z.narrow(0, 3, 3)).narrow(1, 0, 4);
        return { eps: eu.add(ec.sub(eu).mul(2.5)), v: torch.zerosLike(x) };
      };
      const want = d.solverLoop(byHand, noise, { order: sampler === 'ddim' ? 1 : 2, clip: 3 });
      const diff = got.sub(want).abs().max().item();
      assert.ok(diff < 1e-4, `${sampler}: max diff ${diff}`);
    }
    assert.throws(() => dl.sample(z, { cfg: 2, sampler: 'euler' as 'ddim' }), /unknown diffusion sampler 'euler'/);
  });
});

test('sampleTokens gives each AR step its annealed diffusion steps and the chosen sampler', () => {
  torch.tidy(() => {
    const g = new torch.Generator(0);
    const small = { encoderEmbedDim: 32, decoderEmbedDim: 32, encoderDepth: 1, decoderDepth: 1, bufferSize: 4 };
    const m = new MAR(
      marConfig('mar_fmnist', { ...small, encoderNumHeads: 2, decoderNumHeads: 2, difflossW: 32, difflossD: 1 }),
      {
        generator: g,
      },
    );
    const calls: [number | undefined, string | undefined][] = [];
    const sample = m.diffloss.sample.bind(m.diffloss);
    m.diffloss.sample = (z, o = {}) => {
      calls.push([o.steps, o.sampler]);
      return sample(z, o);
    };
    const labels = torch.tensor([1, 2], { dtype: 'int64' });
    const run = (o: Parameters<typeof sampleTokens>[2]) => {
      calls.length = 0;
      sampleTokens(m, 2, { labels, numIter: 4, cfg: 2, generator: new torch.Generator(1), ...o });
      return calls.map((c) => [...c]);
    };
    assert.deepEqual(run({ diffusionSteps: 6, finalDiffusionSteps: 2, diffusionSampler: 'ddim' }), [
      [6, 'ddim'],
      [5, 'ddim'],
      [3, 'ddim'],
      [2, 'ddim'],
    ]);
    // without annealing every step takes the given count (or the config's respacing when none)
    assert.deepEqual(run({ diffusionSteps: 6 }), Array(4).fill([6, undefined]));
    assert.deepEqual(run({}), Array(4).fill([undefined, undefined]));
    // with annealing but no first count, it starts from the config's respacing (mar_fmnist: "100")
    assert.deepEqual(
      run({ finalDiffusionSteps: 10 }).map((c) => c[0]),
      [100, 70, 40, 10],
    );
    // a deterministic solver: the same seed gives the same latents
    const a = sampleTokens(m, 2, {
      labels,
      numIter: 2,
      cfg: 2,
      diffusionSampler: 'dpm-solver++',
      diffusionSteps: 4,
      generator: new torch.Generator(5),
    });
    const b = sampleTokens(m, 2, {
      labels,
      numIter: 2,
      cfg: 2,
      diffusionSampler: 'dpm-solver++',
      diffusionSteps: 4,
      generator: new torch.Generator(5),
    });
    assert.equal(a.sub(b).abs().max().item(), 0);
  });
});
