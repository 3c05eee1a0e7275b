// `d2c dry-run`: one step of each phase of the official ImageNet-256 recipe (vq16, kl16, the
// token cache, gpt_b, mar_base with a fusion, one sample) on a few synthetic images, on the given
// device, each phase in a child process of its own; prints a table and one JSON line with, per
// phase, parameters, peak memory, seconds and FLOPs per step. On the CPU the batch is 1 and the
// sample takes fewer steps unless told otherwise, and the output says so.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Command, Option } from 'commander';
import { FUSIONS } from '../../generators/fusion.ts';
import { type PartKind, resolveConfig } from '../../pipeline/parts.ts';
import * as torch from '../../torch/index.ts';
import { type DeviceFlags, deviceOption, type PrecisionFlags, precisionOption, runDevice } from '../device_options.ts';
import { type DryRunSetup, MAR_SAMPLING, PHASES, type Phase, type PhaseResult, runPhase } from '../dry_run_phases.ts';
import { UsageError } from '../errors.ts';
import { choiceOption, intOption, positiveInt } from '../options.ts';

/** Per-GPU batch of the references (LlamaGen: tokenizers 128 and GPT 256 over 8 GPUs; MAR: 2048 over 32). */
const GPU_BATCH = 32;
const OFFICIAL = { vq: 'vq16', kl: 'kl16', gpt: 'gpt_b', mar: 'mar_base' };
const CPU_SAMPLING = { steps: 4, diffusionSteps: 10 };
const CHILD_MARK = 'D2C_DRY_RUN ';

interface Flags extends DeviceFlags, PrecisionFlags {
  presets: string;
  fusion: string;
  batch?: number;
  sampleSteps?: number;
  diffusionSteps?: number;
  phase?: Phase;
  setup?: string;
  keep: boolean;
  threads: number;
}

function parsePresets(v: string): DryRunSetup['presets'] {
  const p = v.split(',').map((x) => x.trim());
  if (p.length !== 4 || p.some((x) => x === ''))
    throw new UsageError(`--presets must be four presets VQ,KL,GPT,MAR (e.g. vq16,kl16,gpt_b,mar_base), got "${v}"`);
  const presets = { vq: p[0], kl: p[1], gpt: p[2], mar: p[3] };
  for (const [kind, preset] of Object.entries(presets)) {
    try {
      resolveConfig(kind as PartKind, preset);
    } catch (e) {
      throw new UsageError(`--presets: ${(e as Error).message}`);
    }
  }
  return presets;
}

const fmt = {
  params: (n: number) => `${(n / 1e6).toFixed(1)}M`,
  flops: (n: number) => (n >= 1e12 ? `${(n / 1e12).toFixed(2)} T` : `${(n / 1e9).toFixed(1)} G`),
};

export function table(rows: PhaseResult[]): string {
  const head = ['phase', 'what', 'params', 'batch', 'peak RSS', 's/step', 'CPU s/step', 'FLOPs/step'];
  const body = rows.map((r) => [
    r.phase,
    r.what,
    fmt.params(r.params),
    String(r.batch),
    `${r.peakRssMiB.toFixed(0)} MiB`,
    r.seconds.toFixed(2),
    r.cpuSeconds.toFixed(2),
    fmt.flops(r.flops),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (c: string[]) => c.map((x, i) => (i >= 2 ? x.padStart(w[i]) : x.padEnd(w[i]))).join('  ');
  const sample = rows.find((r) => r.phase === 'sample');
  const estimate =
    sample?.officialFlops !== undefined && sample.officialFlops !== sample.flops
      ? [
          `sample at MAR's ${MAR_SAMPLING.steps} AR × ${MAR_SAMPLING.diffusionSteps} diffusion steps: ${fmt.flops(sample.officialFlops)} FLOPs (estimated from its parts)`,
        ]
      : [];
  return [line(head), ...body.map(line), ...estimate].join('\n');
}

/** Runs one phase in a fresh process (this command with --phase); returns what it measured. */
function child(phase: Phase, setup: DryRunSetup, threads: number): PhaseResult {
  const args = [...process.execArgv, process.argv[1], 'dry-run', '--phase', phase, '--setup', JSON.stringify(setup)];
  const r = spawnSync(process.execPath, [...args, '--threads', String(threads)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 24,
  });
  const line = r.stdout?.split('\n').find((l) => l.startsWith(CHILD_MARK));
  if (r.status !== 0 || !line) throw new Error(`dry-run: phase ${phase} failed (exit ${r.status ?? r.signal})`);
  return JSON.parse(line.slice(CHILD_MARK.length)) as PhaseResult;
}

export function register(program: Command): void {
  precisionOption(deviceOption(program.command('dry-run')), 'compute precision of the training steps and the sample')
    .description('one step of each phase of the ImageNet-256 recipe on synthetic images: params, peak memory, s/step, FLOPs/step')
    .option('--presets <vq,kl,gpt,mar>', 'the four parts', Object.values(OFFICIAL).join(','))
    .option('--fusion <kind>', `stage-2 fusion (${FUSIONS.join(', ')})`, choiceOption('--fusion', FUSIONS), 'add')
    .option('--batch <n>', `images per step (default ${GPU_BATCH} on a GPU, 1 on the CPU)`, positiveInt('--batch'))
    .option(
      '--sample-steps <n>',
      'stage-2 AR steps of the sample (default 64 on a GPU, 4 on the CPU)',
      positiveInt('--sample-steps'),
    )
    .option(
      '--diffusion-steps <n>',
      'diffusion steps of the sample (default 100 on a GPU, 10 on the CPU)',
      intOption('--diffusion-steps', { min: 1, max: 1000 }),
    )
    .option('--keep', 'keep the work folder (checkpoints, cache, model) and print its path', false)
    .option('--threads <n>', 'intra-op threads', positiveInt('--threads'), 2)
    .addOption(hidden('--phase <phase>'))
    .addOption(hidden('--setup <json>'))
    .action(async (o: Flags) => {
      torch.setNumThreads(o.threads);
      if (o.phase) {
        const r = await runPhase(o.phase, JSON.parse(o.setup ?? '{}') as DryRunSetup);
        const peakRssMiB = process.resourceUsage().maxRSS / 1024;
        process.stdout.write(`${CHILD_MARK}${JSON.stringify({ ...r, peakRssMiB })}\n`);
        return;
      }
      const device = runDevice(o.device);
      const presets = parsePresets(o.presets);
      const gpu = device !== 'cpu';
      const sampling = gpu ? MAR_SAMPLING : CPU_SAMPLING;
      const work = mkdtempSync(join(tmpdir(), 'd2c-dry-run-'));
      const setup: DryRunSetup = {
        work,
        device,
        precision: o.precision ?? 'fp32',
        presets,
        fusion: o.fusion,
        batch: o.batch ?? (gpu ? GPU_BATCH : 1),
        sampleSteps: o.sampleSteps ?? sampling.steps,
        diffusionSteps: o.diffusionSteps ?? sampling.diffusionSteps,
      };
      const reduced = [
        ...(!gpu && o.batch === undefined ? [`batch 1 (a GPU's default: ${GPU_BATCH})`] : []),
        ...(!gpu && o.sampleSteps === undefined && o.diffusionSteps === undefined
          ? [
              `sample ${CPU_SAMPLING.steps} AR × ${CPU_SAMPLING.diffusionSteps} diffusion steps (MAR's: ${MAR_SAMPLING.steps} × ${MAR_SAMPLING.diffusionSteps})`,
            ]
          : []),
      ];
      process.stderr.write(
        `dry-run on ${device} (${setup.precision}, ${o.threads} threads): ${Object.values(setup.presets).join(', ')}, fusion ${o.fusion}` +
          `${reduced.length ? `; reduced for the CPU: ${reduced.join(', ')}` : ''}\n`,
      );
      const rows: PhaseResult[] = [];
      const t0 = performance.now();
      try {
        for (const phase of PHASES) {
          const r = child(phase, setup, o.threads);
          rows.push(r);
          // each phase's figures as soon as they are known, so a run stopped midway still tells them
          process.stderr.write(`  ${JSON.stringify(r)} (${((performance.now() - t0) / 1000).toFixed(0)} s in)\n`);
        }
      } finally {
        if (o.keep) process.stderr.write(`work folder kept: ${work}\n`);
        else rmSync(work, { recursive: true, force: true });
      }
      process.stdout.write(`${table(rows)}\n`);
      const { work: _w, ...recorded } = setup;
      const seconds = +((performance.now() - t0) / 1000).toFixed(1);
      process.stdout.write(
        `${JSON.stringify({ dryRun: { ...recorded, reduced, threads: o.threads, seconds }, phases: rows })}\n`,
      );
    });
}

/** Internal flags: how the parent runs one phase in a child. */
function hidden(flags: string): Option {
  return new Option(flags).hideHelp();
}
