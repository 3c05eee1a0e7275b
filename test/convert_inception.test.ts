// scripts/convert_checkpoint.py --kind inception on a `.pth` laid out as pytorch-fid's
// pt_inception-2015-12-05-6726825d.pth (a bare state dict saved by torch.save, in torchvision's
// names), with and without the BatchNorm num_batches_tracked buffers: the folder loads strictly
// into InceptionV3 with the same values. Needs the project's Python (.venv with torch).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { inceptionMissingMessage, loadInception } from '../src/eval/inception_network.ts';
import * as torch from '../src/torch/index.ts';
import { inceptionFormulaStateDict } from './helpers/inception_formula.ts';

const PY = '.venv/bin/python';
const skip = existsSync(PY) ? false : 'needs .venv/bin/python with torch (npm run setup)';
const dir = mkdtempSync(join(tmpdir(), 'd2c-convert-inception-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** torch.save of the formula state dict as a plain dict of tensors (optionally without num_batches_tracked). */
function makePth(out: string, withTracked: boolean): void {
  const st = join(dir, 'formula.safetensors');
  if (!existsSync(st)) {
    const sd = inceptionFormulaStateDict();
    torch.saveSafetensors(st, sd, { format: 'pt' });
    torch.dispose([...sd.values()]);
  }
  const py = `
import sys, collections, torch
from safetensors.torch import load_file
sd = load_file(sys.argv[1])
if sys.argv[3] == 'drop':
    sd = {k: v for k, v in sd.items() if not k.endswith('num_batches_tracked')}
torch.save(collections.OrderedDict(sorted(sd.items())), sys.argv[2])
`;
  execFileSync(PY, ['-c', py, st, out, withTracked ? 'keep' : 'drop']);
}

for (const withTracked of [true, false]) {
  test(`a pytorch-fid style .pth ${withTracked ? 'with' : 'without'} num_batches_tracked converts and loads strictly`, {
    skip,
  }, () => {
    const pth = join(dir, `pt_inception_${withTracked}.pth`);
    makePth(pth, withTracked);
    const out = join(dir, `inception_${withTracked}`);
    const log = execFileSync(PY, ['scripts/convert_checkpoint.py', '--kind', 'inception', pth, out], { encoding: 'utf8' });
    assert.match(log, /566 tensors, 23\.8\dM parameters/, log);
    assert.equal(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).kind, 'inception');
    const net = loadInception(out);
    const ref = inceptionFormulaStateDict();
    torch.tidy(() => {
      for (const [k, t] of net.stateDict()) {
        const r = ref.get(k) as torch.Tensor;
        assert.equal(t.sub(r).abs().max().item(), 0, `${k} differs after conversion`);
      }
    });
    torch.dispose([...ref.values(), ...net.stateDict().values()]);
  });
}

test('convert_checkpoint.py --kind inception rejects a state dict that is not the FID Inception', { skip }, () => {
  const pth = join(dir, 'other.pth');
  execFileSync(PY, ['-c', `import torch, sys; torch.save({'fc.weight': torch.zeros(10, 2048)}, sys.argv[1])`, pth]);
  assert.throws(
    () => execFileSync(PY, ['scripts/convert_checkpoint.py', '--kind', 'inception', pth, join(dir, 'other')], { stdio: 'pipe' }),
    (e: { stderr: Buffer }) =>
      /not pytorch-fid's FID Inception: Conv2d_1a_3x3\.conv\.weight is missing/.test(e.stderr.toString()),
  );
});

test('a missing weights folder names the file to download and the conversion command', () => {
  assert.throws(
    () => loadInception(join(dir, 'absent')),
    (e: Error) => e.message === inceptionMissingMessage(join(dir, 'absent')),
  );
  const msg = inceptionMissingMessage('models/pt-inception');
  assert.match(msg, /pt_inception-2015-12-05-6726825d\.pth/);
  assert.match(msg, /pytorch-fid's fid_weights release/);
  assert.match(msg, /convert_checkpoint\.py --kind inception pt_inception-2015-12-05-6726825d\.pth models\/pt-inception/);
});
