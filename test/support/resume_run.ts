// A small but complete training run for the resume test: attention block with dropout (global
// RNG), data order from an explicit generator, AdamW with two groups, clipping, warm-up + cosine
// lr, EMA. Run as a script it trains part of the way and saves, or resumes and finishes:
//   tsx test/support/resume_run.ts save <dir> <steps>
//   tsx test/support/resume_run.ts resume <dir> <totalSteps> <out.safetensors>
import { Attention } from '../../src/nn/attention.ts';
import { LayerNorm, Linear } from '../../src/nn/layers.ts';
import { Mlp } from '../../src/nn/mlp.ts';
import { Module } from '../../src/nn/module.ts';
import { AdamW, clipGradNorm_, EMA, lrAt, paramGroupsNoDecay } from '../../src/optim/index.ts';
import type { Tensor } from '../../src/torch/index.ts';
import * as torch from '../../src/torch/index.ts';
import { loadCheckpoint, saveCheckpoint } from '../../src/train/checkpoint.ts';

const D = 16;
const SAMPLES = 32;
const BATCH = 8;
export const TOTAL = 10;

class Net extends Module {
  readonly embed: Linear;
  readonly norm1: LayerNorm;
  readonly attn: Attention;
  readonly norm2: LayerNorm;
  readonly mlp: Mlp;
  readonly head: Linear;
  constructor(g: torch.Generator) {
    super();
    this.embed = this.registerModule('embed', new Linear(4, D, true, { generator: g }));
    this.norm1 = this.registerModule('norm1', new LayerNorm(D));
    this.attn = this.registerModule('attn', new Attention(D, 2, { qkvBias: true, attnDrop: 0.1, projDrop: 0.1, generator: g }));
    this.norm2 = this.registerModule('norm2', new LayerNorm(D));
    this.mlp = this.registerModule('mlp', new Mlp(D, 2 * D, { drop: 0.1, generator: g }));
    this.head = this.registerModule('head', new Linear(D, 4, true, { generator: g }));
  }
  forward(x: Tensor): Tensor {
    let h = this.embed.forward(x); // [B, L, D]
    h = h.add(this.attn.forward(this.norm1.forward(h), { causal: true }));
    h = h.add(this.mlp.forward(this.norm2.forward(h)));
    return this.head.forward(h);
  }
}

export interface Run {
  model: Net;
  opt: AdamW;
  ema: EMA;
  dataGen: torch.Generator;
  x: Tensor;
  y: Tensor;
  /** Data position: the current epoch's order and the next index in it. */
  pos: { epoch: number; order: number[]; next: number };
  step: number;
}

export function newRun(): Run {
  torch.manualSeed(123);
  const g = new torch.Generator(1);
  const model = new Net(g);
  const x = torch.keep(torch.randn([SAMPLES, 6, 4], { generator: g }));
  const y = torch.keep(x.sin());
  const opt = new AdamW(paramGroupsNoDecay(model, 0.05), { lr: 1e-2, betas: [0.9, 0.95] });
  return {
    model,
    opt,
    ema: new EMA(model, 0.9),
    dataGen: new torch.Generator(2),
    x,
    y,
    pos: { epoch: 0, order: [], next: SAMPLES },
    step: 0,
  };
}

function nextBatch(r: Run): Tensor {
  if (r.pos.next >= SAMPLES) {
    r.pos = {
      epoch: r.pos.epoch + (r.pos.order.length > 0 ? 1 : 0),
      order: torch.tidy(() => torch.randperm(SAMPLES, { generator: r.dataGen }).toArray()),
      next: 0,
    };
  }
  const idx = r.pos.order.slice(r.pos.next, r.pos.next + BATCH);
  r.pos.next += BATCH;
  return torch.tensor(idx, { dtype: 'int64' });
}

export function train(r: Run, until: number): void {
  for (; r.step < until; r.step++) {
    torch.tidy(() => {
      const idx = nextBatch(r);
      r.opt.setLr(lrAt(r.step, { baseLr: 1e-2, warmup: 3, total: TOTAL, kind: 'cosine', minLr: 1e-4 }));
      const loss = torch.F.mseLoss(r.model.forward(r.x.indexSelect(0, idx)), r.y.indexSelect(0, idx));
      loss.backward();
      clipGradNorm_(r.model.parameters(), 0.5);
      r.opt.step();
      r.opt.zeroGrad();
      r.ema.update();
    });
  }
}

export function save(r: Run, dir: string): void {
  saveCheckpoint(dir, {
    config: { kind: 'resume-test', width: D },
    model: r.model,
    ema: r.ema,
    optimizer: r.opt,
    trainer: { step: r.step, epoch: r.pos.epoch, data: r.pos, generators: { data: r.dataGen } },
  });
}

export function resume(dir: string): Run {
  const r = newRun();
  const { trainer } = loadCheckpoint(dir, { model: r.model, ema: r.ema, optimizer: r.opt, generators: { data: r.dataGen } });
  if (!trainer) throw new Error(`${dir}: no trainer state`);
  r.step = trainer.step;
  r.pos = trainer.data as Run['pos'];
  return r;
}

/** Final model and EMA weights, for comparison. */
export function weights(r: Run): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [k, t] of r.model.stateDict()) out.set(`model.${k}`, t);
  for (const [k, t] of r.ema.stateDict()) out.set(`ema.${k}`, t);
  return out;
}

if (process.argv[1]?.endsWith('resume_run.ts')) {
  const [mode, dir, n, out] = process.argv.slice(2);
  if (mode === 'save') {
    const r = newRun();
    train(r, Number(n));
    save(r, dir);
  } else if (mode === 'resume') {
    const r = resume(dir);
    train(r, Number(n));
    torch.saveSafetensors(out, weights(r));
  } else {
    throw new Error(`usage: resume_run.ts save <dir> <steps> | resume <dir> <total> <out>; got mode '${mode}'`);
  }
}
