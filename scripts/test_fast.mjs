// `npm run test:fast`: the test files that need no dataset, no browser and no training beyond a
// few steps, for the edit-test loop, two files at a time on a machine with two cores or more
// (`npm test` runs every file, one at a time). Extra arguments go to `node --test` (e.g.
// `--test-reporter=dot`, `--test-concurrency=1`).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

/** The files left out, and why. */
const SLOW = {
  'cli_fit.test.ts': 'trains all seven phases of d2c fit, twice',
  'cli_fid_inception.test.ts': 'runs the Inception network',
  'ddp_train.test.ts': 'data-parallel training in several processes',
  'eval_colour.test.ts': 'fits a tiny colour model and trains its classifier',
  'pipeline_train.test.ts': 'trains and resumes in a child process',
  'train_kill.test.ts': 'kills and resumes a training run in seven child processes',
  'data_idx.test.ts': 'reads the Fashion-MNIST dataset',
  'eval_classifier.test.ts': 'trains the Fashion-MNIST classifier on the dataset',
  'eval_evaluate.test.ts': 'evaluates against the Fashion-MNIST dataset',
  'eval_bf16.test.ts': 'samples 3 × 1,000 images of the shipped model and scores them against the Fashion-MNIST dataset',
  'eval_inception_parity.test.ts': 'runs the Inception network',
  'stage2_arms.test.ts': 'trains stage-2 arms on the Fashion-MNIST dataset',
  'web_browser.test.ts': 'drives Chromium',
  'web_page.test.ts': 'drives Chromium',
};

const root = join(import.meta.dirname, '..');
const files = readdirSync(join(root, 'test'))
  .filter((f) => f.endsWith('.test.ts') && !(f in SLOW))
  .sort()
  .map((f) => join('test', f));
const concurrency = Math.min(2, availableParallelism());
const args = ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...process.argv.slice(2), ...files];
const r = spawnSync(process.execPath, args, {
  cwd: root,
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
