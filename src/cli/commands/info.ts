// `d2c info --preset NAME [--keys]`: a preset's resolved config and parameter count, or with
// --keys its state dict as JSON {name: shape} (equal to the official model's for the full-size
// presets); `d2c info --model DIR`: what a model folder holds.
import type { Command } from 'commander';
import { FUSIONS, fusionConfig } from '../../generators/fusion.ts';
import { D2C } from '../../pipeline/d2c.ts';
import { kindOfPreset, partShapes, resolveConfig } from '../../pipeline/parts.ts';
import { collect, configOverrides } from '../config_args.ts';
import { UsageError } from '../errors.ts';
import { choiceOption } from '../options.ts';

export function register(program: Command): void {
  program
    .command('info')
    .description('describe a model preset (config, parameters, state-dict names and shapes) or a model folder')
    .option('--preset <name>', 'model preset (vq16, kl16, gpt_b, mar_base, *_fmnist, …)')
    .option('--model <dir>', 'a d2c model folder')
    .option('--fusion <kind>', `MAR fusion (${FUSIONS.join(', ')})`, choiceOption('--fusion', FUSIONS))
    .option('--set <key=value>', 'config override (repeatable)', collect, [])
    .option('--keys', 'print the state dict as JSON {name: shape}', false)
    .action((o: { preset?: string; model?: string; fusion?: string; set: string[]; keys: boolean }) => {
      if (o.model) {
        const m = D2C.fromPretrained(o.model);
        const parts = Object.fromEntries(
          Object.entries(m.parts).map(([k, p]) => [
            k,
            { kind: p.kind, preset: p.preset, parameters: partParams(p.kind, p.config) },
          ]),
        );
        process.stdout.write(`${JSON.stringify({ ...m.info, parts }, null, 2)}\n`);
        return;
      }
      if (!o.preset) throw new UsageError('info: pass --preset NAME or --model DIR');
      let kind: ReturnType<typeof kindOfPreset>;
      try {
        kind = kindOfPreset(o.preset);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      if (o.fusion && kind !== 'mar') throw new UsageError(`--fusion applies to MAR presets, not ${o.preset} (${kind})`);
      // what `train stage2 --fusion` builds: the fusion and its variant's settings, then --set
      const overrides = { ...(o.fusion ? fusionConfig(o.fusion) : {}), ...configOverrides(undefined, o.set) };
      const config = resolveConfig(kind, o.preset, overrides);
      const shapes = partShapes(kind, config);
      if (o.keys) {
        process.stdout.write(`${JSON.stringify(shapes)}\n`);
        return;
      }
      process.stdout.write(`${JSON.stringify({ kind, preset: o.preset, parameters: count(shapes), config }, null, 2)}\n`);
    });
}

function count(shapes: Record<string, number[]>): number {
  return Object.values(shapes).reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0);
}

function partParams(kind: Parameters<typeof partShapes>[0], config: Record<string, unknown>): number {
  return count(partShapes(kind, config));
}
