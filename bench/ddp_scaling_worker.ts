// One process of bench/cases/ddp_scaling.ts: `node --import tsx bench/ddp_scaling_worker.ts
// RANK WORLD PORT STEPS` trains mar_train_step's model (mar_fmnist, mask ratio 0.85) on its share of
// a global batch of 32 with 1 thread, for 2 warm-up steps and STEPS timed ones. With WORLD > 1 it
// runs d2c's data-parallel training path (src/train/data_parallel.ts: weights broadcast from rank 0,
// per-sample draws sharded from the global batch, GradSync's bucketed all-reduce overlapped with
// backward over c10d's Gloo); with WORLD 1 it is plain one-process training. Rank 0 prints the
// global throughput, images/s = 32 / the median step time (the all-reduce ends every step in step).
import { MAR, marConfig } from '../src/generators/mar.ts';
import { AdamW } from '../src/optim/index.ts';
import * as torch from '../src/torch/index.ts';
import { DataParallel } from '../src/train/data_parallel.ts';
import { medianMs } from './timing.ts';

export const GLOBAL_BATCH = 32;
export const WARMUP_STEPS = 2;

const [rank, world, port, steps] = process.argv.slice(2, 6).map(Number);
if (![rank, world, port, steps].every(Number.isInteger) || world < 1 || rank >= world || steps < 1)
  throw new Error('usage: bench/ddp_scaling_worker.ts RANK WORLD PORT STEPS');
if (GLOBAL_BATCH % world !== 0) throw new Error(`the global batch ${GLOBAL_BATCH} does not divide over ${world} processes`);
torch.setNumThreads(1);

const dp =
  world > 1
    ? DataParallel.init({
        rank,
        worldSize: world,
        masterAddr: '127.0.0.1',
        masterPort: port,
        backend: 'gloo',
        timeoutMs: 120_000,
      })
    : null;
const B = GLOBAL_BATCH / world;
const g = new torch.Generator(0);
const m = new MAR(marConfig('mar_fmnist', { attnDropout: 0, projDropout: 0 }), { generator: g });
// every rank draws the same global batch and keeps its slice, as CacheBatches shards one
const [latents, labels] = torch.tidy(() => [
  torch.keep(
    torch
      .randn([GLOBAL_BATCH, 4, 8, 8], { generator: g })
      .narrow(0, rank * B, B)
      .contiguous(),
  ),
  torch.keep(
    torch
      .randint(0, 10, [GLOBAL_BATCH], { generator: g })
      .narrow(0, rank * B, B)
      .contiguous(),
  ),
]);
dp?.syncModules(m);
if (dp) dp.shardGenerator(g);
const sync = dp?.gradSync(m.parameters()) ?? null;
const opt = new AdamW(m.parameters(), { lr: 1e-4 });

const ms = medianMs(
  () => {
    torch.tidy(() => {
      const x = m.patchify(latents);
      const mask = m.randomMasking(m.sampleOrders(B, g), 0.85);
      const enc = m.forwardMaeEncoder(x, mask, m.class_emb.forward(labels), null, g);
      const loss = m.forwardLoss(m.forwardMaeDecoder(enc, mask), x, mask, g);
      sync?.arm();
      loss.backward();
      sync?.finish();
      opt.step();
    });
    m.zeroGrad();
  },
  { warmup: WARMUP_STEPS, repeats: steps },
);
torch.dispose([latents, labels]);
dp?.close();
if (rank === 0) console.log(GLOBAL_BATCH / (ms / 1000));
