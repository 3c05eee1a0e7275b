// `d2c fit`: the whole recipe on a user's ImageFolder, as a table of phases run by the driver of
// ../phases.ts. Each phase resumes on its own, so running the same command again continues a run;
// with --jobs 2 the two tokenizers, then the two generators, train side by side in child processes.
import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { openImageSet } from '../../data/open.ts';
import * as torch from '../../torch/index.ts';
import { fitPlan } from '../../train/fit_recipe.ts';
import { StopSignal } from '../../train/stop.ts';
import { type DeviceFlags, deviceOption, type PrecisionFlags, precisionOption, runDevice } from '../device_options.ts';
import { UsageError } from '../errors.ts';
import { intOption, numberOption, positiveInt } from '../options.ts';
import { listenToParent, runChild } from '../phase_child.ts';
import { describePhases, type Phase, runPhases } from '../phases.ts';
import * as p from './fit_phases.ts';
import { type FitRecord, type FitRun, saveRecord } from './fit_phases.ts';

/** A training phase: done at its step count, continued from its last checkpoint, side by side with its pair. */
function training(name: string, part: 'vq' | 'kl' | 'stage1' | 'stage2', needs: string[]): Phase<FitRun> {
  const run = part === 'vq' || part === 'kl' ? p.trainTokenizer(part, name) : p.trainGenerator(part, name);
  return { name, needs, makes: `runs/${part}`, resumes: 'from its last checkpoint', done: p.trained(part), run, parallel: true };
}

/** The recipe: what each phase reads and writes, when it is done, how a second run continues it. */
const PHASES: readonly Phase<FitRun>[] = [
  training('vq tokenizer', 'vq', []),
  training('kl tokenizer', 'kl', []),
  {
    name: 'token cache',
    needs: ['vq tokenizer', 'kl tokenizer'],
    makes: 'runs/cache',
    resumes: 'rebuilt when a tokenizer changed; generators trained on an older cache move to runs/<part>.stale',
    done: p.cacheDone,
    run: (r) => p.buildCache(r, 'token cache'),
  },
  training('stage-1 GPT', 'stage1', ['token cache']),
  training('stage-2 MAR', 'stage2', ['token cache']),
  {
    name: 'model folder',
    needs: ['stage-1 GPT', 'stage-2 MAR'],
    makes: 'd2c.json and the parts, with pack’s sampling defaults',
    resumes: 'redone when older than a checkpoint',
    done: p.packed,
    run: (r) => p.pack(r, 'model folder'),
  },
  {
    name: 'samples',
    needs: ['model folder'],
    makes: 'samples.png and samples/',
    resumes: 'redone when older than d2c.json',
    done: p.sampled,
    run: (r) => p.sample(r, 'samples'),
  },
];

interface FitOptions extends Partial<DeviceFlags>, PrecisionFlags {
  data: string;
  size: number;
  out: string;
  stepsScale: number;
  seed: number;
  threads: number;
  perClass: number;
  perceptualNet?: string;
  jobs: number;
  /** Set by the parent process for a child: run this phase alone. */
  phase?: string;
}

function label(name: string): string {
  return `[${PHASES.findIndex((x) => x.name === name) + 1}/${PHASES.length}] ${name}`;
}

/** The flags a child needs to rebuild the same run (exported for its test). */
export function childArgs(o: FitOptions, phase: string, threads: number): string[] {
  const flags: Record<string, string | number> = {
    data: o.data,
    out: o.out,
    size: o.size,
    'steps-scale': o.stepsScale,
    seed: o.seed,
    'per-class': o.perClass,
  };
  if (o.perceptualNet !== undefined) flags['perceptual-net'] = o.perceptualNet;
  if (o.device !== undefined) flags.device = o.device;
  if (o.precision !== undefined) flags.precision = o.precision;
  return [
    'fit',
    ...Object.entries(flags).flatMap(([k, v]) => [`--${k}`, String(v)]),
    '--threads',
    String(threads),
    '--jobs',
    '1',
    '--phase',
    phase,
  ];
}

/** The earlier run's record in OUT/runs/fit.json, refused when this command's flags differ from it. */
function checkAgainstEarlierRun(o: FitOptions, recordPath: string, data: string, precision: string): FitRecord | null {
  const previous = p.readRecord(recordPath);
  if (!previous) return null;
  if (previous.data !== data || previous.size !== o.size || previous.seed !== o.seed) {
    throw new UsageError(
      `${o.out} was fit on --data ${previous.data} --size ${previous.size} --seed ${previous.seed}, ` +
        `not --data ${data} --size ${o.size} --seed ${o.seed}: use another --out, or the same flags to continue it`,
    );
  }
  // the precision is part of the run (a bf16 checkpoint resumes in bf16); the device is not
  if ((previous.precision ?? 'fp32') !== precision) {
    throw new UsageError(
      `${o.out} was fit with --precision ${previous.precision ?? 'fp32'}, not ${precision}: use another --out, or the same flag to continue it`,
    );
  }
  return previous;
}

/** Checks the flags against an earlier run and opens the data; nothing is written before this passes. */
async function prepare(o: FitOptions, stop: StopSignal): Promise<FitRun> {
  const runs = join(o.out, 'runs');
  const recordPath = join(runs, 'fit.json');
  const data = resolve(o.data);
  const precision = o.precision ?? 'fp32';
  const previous = checkAgainstEarlierRun(o, recordPath, data, precision);
  const device = runDevice(o.device ?? 'cpu');
  if (o.phase !== undefined && !PHASES.some((x) => x.name === o.phase)) throw new UsageError(`--phase: no phase "${o.phase}"`);
  try {
    fitPlan(o.size, o.stepsScale, 1); // flags first, before the data is read
    const set = await openImageSet({ dataset: 'imagefolder', data: o.data, size: o.size, channels: 3 });
    const dirs = Object.fromEntries(['vq', 'kl', 'cache', 'stage1', 'stage2'].map((k) => [k, join(runs, k)])) as FitRun['dirs'];
    const { out, seed, perClass, perceptualNet } = o;
    return {
      out,
      seed,
      perClass,
      perceptualNet,
      device,
      precision,
      set,
      plan: fitPlan(o.size, o.stepsScale, set.labels.length),
      dirs,
      record: previous ?? { data, size: o.size, seed: o.seed, precision },
      recordPath,
      stop,
      label,
      command: process.argv.slice(2).join(' '),
    };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function announce(r: FitRun, o: FitOptions): void {
  const { set, plan } = r;
  const s = plan.steps;
  process.stderr.write(
    `fit: ${set.labels.length} images of ${set.classes.length} classes (${set.classes.join(', ')}) at ${o.size}×${o.size}×3; ` +
      `steps vq ${s.vq}, kl ${s.kl}, stage1 ${s.stage1}, stage2 ${s.stage2}; batch ${plan.batchSize}` +
      `${o.jobs > 1 ? `; up to ${o.jobs} phases at once` : ''}\n`,
  );
}

/** One phase in this process, for a parent running phases side by side. */
async function runOnePhase(r: FitRun, name: string): Promise<boolean> {
  listenToParent(r.stop);
  const phase = PHASES.find((x) => x.name === name) as Phase<FitRun>;
  const done = phase.done(r);
  if (done !== null) process.stderr.write(`${label(name)}: ${done}\n`);
  return done !== null || (await phase.run(r));
}

export async function fit(o: FitOptions): Promise<{ interrupted: boolean }> {
  torch.setNumThreads(o.threads);
  const stop = new StopSignal();
  const r = await prepare(o, stop);
  if (o.phase === undefined) {
    // Written once the flags and the data are known to be good, so a mistyped run leaves nothing.
    mkdirSync(join(o.out, 'runs'), { recursive: true });
    saveRecord(r);
  }
  stop.doing = 'stopping after this phase';
  const unlisten = stop.listen();
  try {
    if (o.phase !== undefined) return { interrupted: !(await runOnePhase(r, o.phase)) };
    announce(r, o);
    const say = (name: string, text: string) => process.stderr.write(`${label(name)}: ${text}\n`);
    const inChild = (name: string, threads: number) => runChild(label(name), childArgs(o, name, threads), stop);
    const finished = await runPhases(PHASES, r, { jobs: o.jobs, stop, say, inChild, threads: o.threads });
    if (!finished) process.stderr.write('fit: interrupted; run the same command again to continue\n');
    else process.stderr.write(`fit: done. Sample more with: d2c sample --model ${o.out} --class ${r.set.classes[0]} --n 16\n`);
    return { interrupted: !finished };
  } finally {
    unlisten();
  }
}

export function register(program: Command): void {
  precisionOption(deviceOption(program.command('fit')), 'compute precision of the trainings and the samples (kept by the run)')
    .description('train a D2C model on your own ImageFolder (DIR/<class>/<image>), end to end')
    .requiredOption('--data <dir>', 'ImageFolder root: one sub-folder of JPEG/PNG/WebP images per class')
    .requiredOption('--out <dir>', 'model folder to write (checkpoints go to OUT/runs/; run again to continue)')
    .option('--size <n>', 'image side, 32 or 64', positiveInt('--size'), 32)
    .option(
      '--steps-scale <x>',
      'multiply every training’s steps (1: about 10 classes × 1,000 images)',
      numberOption('--steps-scale', { gt: 0 }),
      1,
    )
    .option('--seed <n>', 'seed of every run', intOption('--seed', { min: 0 }), 0)
    .option('--per-class <n>', 'samples per class in the final grid', positiveInt('--per-class'), 8)
    .option('--threads <n>', 'intra-op threads (shared among the phases that run at once)', positiveInt('--threads'), 2)
    .option(
      '--jobs <n>',
      'phases run at once (VQ ‖ KL, then stage 1 ‖ stage 2); default: the core count',
      positiveInt('--jobs'),
      Math.min(2, availableParallelism()),
    )
    .option(
      '--perceptual-net <dir>',
      'classifier of the same images (`d2c train classifier --data`) for the tokenizers’ perceptual loss (default: none, loss off)',
    )
    .addOption(new Option('--phase <name>', 'run one phase alone (how --jobs starts its child processes)').hideHelp())
    .addHelpText('after', `\nPhases (OUT/…; each resumes on its own):\n${describePhases(PHASES)}`)
    .action(async (o: FitOptions) => {
      await fit(o);
    });
}
