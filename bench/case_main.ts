// Child process of bench/run.ts: runs one benchmark case once, in a fresh process as each PyTorch
// twin runs, and prints its figure.
import { loadCase } from './load_case.ts';

const path = process.argv[2];
if (!path) throw new Error('usage: bench/case_main.ts CASE_FILE');
console.log((await loadCase(path)).run());
