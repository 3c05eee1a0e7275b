// `npm run bench [-- NAME_FILTER] [--rounds N]`: runs every bench/cases/*.ts case and its
// PyTorch-eager twin bench/torch/<name>.py (the project's Python) alternately for N rounds (default
// 3), so that a slow spell of a shared host lands on both sides, and prints one JSON line per case:
// {"name", "d2c_<unit>", "torch_<unit>", "ratio"}: the medians over rounds, ratio = d2c / torch (for
// unit 'scaling', a speed-up, higher is better), then the medians of any figures a side reports
// beside its main one ("d2c_<key>", "torch_<key>").
// Each round of either side is a fresh process, so no case inherits another's heap. A case with
// `twin: false` compares d2c with itself (its detail holds both sides) and prints torch_… as null.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BenchFigure, caseNames, loadCase, parseFigure } from './load_case.ts';
import { projectPython } from './python.ts';
import { median } from './timing.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const casesDir = join(root, 'bench', 'cases');
const torchDir = join(root, 'bench', 'torch');

/** Runs one round of a d2c case in a fresh Node process (this one's flags); its last output line is the figure. */
function d2cFigure(file: string): BenchFigure {
  const out = execFileSync(process.execPath, [...process.execArgv, join(root, 'bench', 'case_main.ts'), file], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const last = out.trim().split('\n').pop() ?? '';
  const figure = parseFigure(last);
  if (!figure) throw new Error(`${relative(root, file)}: printed '${last}', not a number`);
  return figure;
}

/** Runs the PyTorch twin; its last output line is the figure. Null when there is none or it fails. */
function torchFigure(name: string, python: string): { figure: BenchFigure | null; error?: string } {
  const script = join(torchDir, `${name}.py`);
  if (!existsSync(script)) return { figure: null, error: `no ${join('bench', 'torch', `${name}.py`)}` };
  try {
    const out = execFileSync(python, [script], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const last = out.trim().split('\n').pop() ?? '';
    const figure = parseFigure(last);
    return figure ? { figure } : { figure: null, error: `${name}.py printed '${last}', not a number` };
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    return { figure: null, error: `${name}.py failed: ${(err.stderr || err.message).trim().split('\n').pop()}` };
  }
}

const round = (x: number | null) => (x === null ? null : Number(x.toPrecision(4)));

/** The medians over rounds of the figures a case reports beside its main one, as `<side>_<key>`. */
function medianDetail(side: string, figures: BenchFigure[]): Record<string, number | null> {
  const keys = [...new Set(figures.flatMap((f) => Object.keys(f.detail ?? {})))];
  return Object.fromEntries(keys.map((k) => [`${side}_${k}`, round(median(figures.map((f) => f.detail?.[k] ?? Number.NaN)))]));
}

function parseArgs(argv: string[]): { filter?: string; rounds: number } {
  let filter: string | undefined;
  let rounds = 3;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--rounds') {
      rounds = Number(argv[++i]);
      if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer, got '${argv[i]}'`);
    } else if (filter === undefined) filter = argv[i];
    else throw new Error(`unexpected argument '${argv[i]}' (usage: npm run bench -- [NAME_FILTER] [--rounds N])`);
  }
  return { filter, rounds };
}

async function main(): Promise<void> {
  const { filter, rounds } = parseArgs(process.argv.slice(2));
  const names = caseNames(casesDir);
  const python = projectPython();
  let ran = 0;
  for (const name of names) {
    if (filter && !name.includes(filter)) continue;
    const file = join(casesDir, `${name}.ts`);
    const c = await loadCase(file);
    const ours: BenchFigure[] = [];
    const theirs: BenchFigure[] = [];
    for (let r = 0; r < rounds; r++) {
      ours.push(d2cFigure(file));
      if (c.twin === false) continue;
      const t = torchFigure(c.name, python);
      if (t.error) {
        process.stderr.write(`bench ${c.name}: ${t.error}\n`);
        break;
      }
      if (t.figure !== null) theirs.push(t.figure);
    }
    const d2c = median(ours.map((f) => f.value));
    const torch = theirs.length ? median(theirs.map((f) => f.value)) : null;
    const ratio = torch === null ? null : round(d2c / torch);
    console.log(
      JSON.stringify({
        name: c.name,
        [`d2c_${c.unit}`]: round(d2c),
        [`torch_${c.unit}`]: round(torch),
        ratio,
        ...medianDetail('d2c', ours),
        ...medianDetail('torch', theirs),
      }),
    );
    ran++;
  }
  if (ran === 0) throw new Error(`no benchmark case matches '${filter}' (cases: ${names.join(', ')})`);
}

main().catch((e: Error) => {
  process.stderr.write(`${e.message}\n`);
  process.exit(1);
});
