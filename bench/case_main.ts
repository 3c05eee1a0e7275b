// Child process of bench/run.ts: runs one benchmark case once, in a fresh process as each PyTorch
// twin runs, and prints its figure.
import { formatFigure, loadCase } from './load_case.ts';

const path = process.argv[2];
if (!path) throw new Error('usage: bench/case_main.ts CASE_FILE');
console.log(formatFigure(await (await loadCase(path)).run()));
