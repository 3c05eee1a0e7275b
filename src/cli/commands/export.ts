// `d2c export --model DIR --out DIR2 --format onnx [--fp16]`: the sampler's networks as ONNX
// graphs plus manifest.json (src/export/), for ONNX Runtime (Node, the browser: `d2c export-web`).
import { existsSync, readdirSync } from 'node:fs';
import type { Command } from 'commander';
import { exportOnnx } from '../../export/export_onnx.ts';
import { exportWeb } from '../../export/export_web.ts';
import * as torch from '../../torch/index.ts';
import { UsageError } from '../errors.ts';
import { choiceOption, positiveInt } from '../options.ts';
import { DEFAULT_MODEL, loadModel } from './sample.ts';

/** Refuses to write into a folder that holds anything but a previous export (nothing saved is lost). */
export function checkOutDir(out: string): void {
  if (!existsSync(out)) return;
  const foreign = readdirSync(out).filter((f) => !/\.(onnx|json|html|js|mjs|wasm|css)$/.test(f) && f !== 'ort' && f !== 'model');
  if (foreign.length > 0) {
    throw new UsageError(`--out ${out} holds other files (${foreign.slice(0, 3).join(', ')}); choose an empty or new folder`);
  }
}

export function register(program: Command): void {
  program
    .command('export')
    .description(
      'export the model as ONNX graphs + manifest.json (GPT prefill/decode with KV cache, MAR, diffusion head, decoders)',
    )
    .option('--model <dir>', 'D2C model folder', DEFAULT_MODEL)
    .requiredOption('--out <dir>', 'folder to write')
    .option('--format <f>', 'export format', choiceOption('--format', ['onnx'] as const), 'onnx')
    .option('--fp16', 'store the weights as float16 (computation stays float32)', false)
    .option('--threads <n>', 'intra-op threads', positiveInt('--threads'), 1)
    .action((o: { model: string; out: string; fp16: boolean; threads: number }) => {
      torch.setNumThreads(o.threads);
      checkOutDir(o.out);
      const m = loadModel(o.model);
      const t0 = performance.now();
      const manifest = exportOnnx(m, o.out, { fp16: o.fp16, log: (l) => process.stdout.write(`${l}\n`) });
      const n = Object.keys(manifest.graphs).length;
      process.stdout.write(
        `${o.out}: ${n} ONNX graphs + manifest.json (${manifest.weights} weights) in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
      );
    });

  program
    .command('export-web')
    .description('write a static site that samples the model in the browser (ONNX Runtime Web: WebGPU, else wasm)')
    .option('--model <dir>', 'D2C model folder', DEFAULT_MODEL)
    .requiredOption('--out <dir>', 'folder to write (serve it with any static file server)')
    .option('--fp32', 'store the weights as float32 (default float16: half the download, computation float32 either way)', false)
    .option('--threads <n>', 'intra-op threads', positiveInt('--threads'), 1)
    .action(async (o: { model: string; out: string; fp32: boolean; threads: number }) => {
      torch.setNumThreads(o.threads);
      checkOutDir(o.out);
      const m = loadModel(o.model);
      const t0 = performance.now();
      await exportWeb(m, o.out, { fp16: !o.fp32, log: (l) => process.stdout.write(`${l}\n`) });
      process.stdout.write(
        `${o.out}: static site in ${((performance.now() - t0) / 1000).toFixed(1)} s; serve it, e.g. python3 -m http.server -d ${o.out} 8000, and open http://127.0.0.1:8000/\n`,
      );
    });
}
