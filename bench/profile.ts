// `npm run -s bench:profile -- NAME [--shapes] [--top N]`: runs one benchmark case (warm-up and timed
// repeats) under libtorch's CPU operator profiler and prints its ops by self time: the d2c side of
// an op-for-op comparison with torch.profiler on the case's PyTorch twin.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as torch from '../src/torch/index.ts';
import { caseNames, loadCase } from './load_case.ts';

const casesDir = join(dirname(fileURLToPath(import.meta.url)), 'cases');

function parseArgs(argv: string[]): { name: string; shapes: boolean; top: number } {
  let name: string | undefined;
  let shapes = false;
  let top = 25;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--shapes') shapes = true;
    else if (argv[i] === '--top') {
      top = Number(argv[++i]);
      if (!Number.isInteger(top) || top < 1) throw new Error(`--top must be a positive integer, got '${argv[i]}'`);
    } else if (name === undefined) name = argv[i];
    else throw new Error(`unexpected argument '${argv[i]}' (usage: bench/profile.ts NAME [--shapes] [--top N])`);
  }
  const cases = caseNames(casesDir);
  if (name === undefined || !existsSync(join(casesDir, `${name}.ts`)))
    throw new Error(`${name === undefined ? 'no case named' : `no case '${name}'`} (cases: ${cases.join(', ')})`);
  return { name, shapes, top };
}

async function main(): Promise<void> {
  const { name, shapes, top } = parseArgs(process.argv.slice(2));
  const c = await loadCase(join(casesDir, `${name}.ts`));
  const { result, ops } = torch.profile(() => c.run(), { shapes });
  if (typeof result !== 'number')
    throw new Error(`${name} runs its work in other processes: profile those (this profiler sees only this one)`);
  console.log(`${c.name}: ${result.toFixed(3)} ${c.unit} (timed under the profiler)`);
  console.log(torch.formatProfile(ops, top));
}

main().catch((e: Error) => {
  process.stderr.write(`${e.message}\n`);
  process.exit(1);
});
