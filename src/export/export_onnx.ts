// `d2c export --format onnx`: every network the sampler calls, traced from the loaded model
// (trace.ts), merged across sizes (graph.ts), lowered to ONNX (onnx_emit.ts), plus manifest.json
// with what a sampler needs beyond the graphs: configs, classes, sampling defaults, the
// unconditional embeddings, and each graph's inputs and outputs.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { GPT } from '../generators/gpt.ts';
import { writeFileAtomic } from '../io/atomic_file.ts';
import type { D2C } from '../pipeline/d2c.ts';
import type { PartConfig } from '../pipeline/parts.ts';
import type { Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';
import { type Graph, mergeTraces } from './graph.ts';
import { type GraphSpec, graphSpecs, TRACE_POINTS } from './graphs.ts';
import type { WebManifest } from './manifest.ts';
import { emitOnnx, OPSET } from './onnx_emit.ts';
import { encodeModel } from './onnx_proto.ts';
import { trace } from './trace.ts';

export interface ExportOptions {
  fp16?: boolean;
  log?: (line: string) => void;
}

/** Traces one graph at the trace points and merges the traces. */
export function traceGraph(spec: GraphSpec): Graph {
  const traces = TRACE_POINTS.map((k) => torch.noGrad(() => torch.tidy(() => trace(spec.inputs(k), spec.run))));
  const g = mergeTraces(traces, spec.name);
  // a size the graph must take at run time has to differ between the traces, or it is baked in
  for (const i of g.inputs) {
    spec.dims[i.name]?.forEach((name, d) => {
      if (name !== null && g.values[i.id].shape[d] !== null) {
        throw new Error(
          `${spec.name}: input ${i.name} has the same ${name} in every trace; the model is too small for the trace sizes`,
        );
      }
    });
  }
  return g;
}

const floats = (t: Tensor | null) => (t ? Array.from(t.contiguous().float().toFloat32Array()) : null);

/** Exports a loaded model (float32, cpu) to `outDir` (created): one .onnx per graph and manifest.json. */
export function exportOnnx(d2c: D2C, outDir: string, o: ExportOptions = {}): WebManifest {
  mkdirSync(outDir, { recursive: true });
  const graphs: WebManifest['graphs'] = {};
  for (const spec of graphSpecs(d2c)) {
    const t0 = Date.now();
    const g = traceGraph(spec);
    const model = emitOnnx(g, spec.name, spec.doc, { fp16: o.fp16, dims: spec.dims });
    const file = `${spec.name}.onnx`;
    const bytes = encodeModel(model);
    writeFileAtomic(join(outDir, file), bytes);
    graphs[spec.name] = {
      file,
      doc: spec.doc,
      inputs: model.inputs.map((i) => ({ name: i.name, dims: i.dims, elemType: i.elemType })),
      outputs: model.outputs.map((i) => ({ name: i.name, dims: i.dims, elemType: i.elemType })),
    };
    o.log?.(`${file}: ${model.nodes.length} nodes, ${(bytes.byteLength / 2 ** 20).toFixed(2)} MiB, ${Date.now() - t0} ms`);
  }
  const gpt = (d2c.stage1 as GPT | null)?.config;
  const mar = d2c.stage2;
  const manifest: WebManifest = {
    format: 'd2c-onnx/1',
    opset: OPSET,
    weights: o.fp16 ? 'float16' : 'float32',
    model: d2c.info,
    // each part's full config (kind, preset, resolved fields), without its training recipe
    parts: Object.fromEntries(
      Object.entries(d2c.parts as Record<string, PartConfig | undefined>)
        .filter((e): e is [string, PartConfig] => e[1] !== undefined)
        .map(([k, p]) => [k, { kind: p.kind, preset: p.preset, config: p.config }]),
    ),
    stage1: gpt
      ? {
          vocabSize: gpt.vocabSize,
          numClasses: gpt.numClasses,
          nullClass: gpt.numClasses,
          blockSize: gpt.blockSize,
          clsTokenNum: gpt.clsTokenNum,
          nLayer: gpt.nLayer,
          nHead: gpt.nHead,
          headDim: gpt.dim / gpt.nHead,
          cacheLength: gpt.clsTokenNum + gpt.blockSize,
          guidable: gpt.classDropoutProb > 0,
        }
      : null,
    stage2: {
      fusion: mar.cfg.fusion,
      seqLen: mar.seqLen,
      seqH: mar.seqH,
      patchSize: mar.cfg.patchSize,
      vaeEmbedDim: mar.cfg.vaeEmbedDim,
      tokenEmbedDim: mar.tokenEmbedDim,
      encoderEmbedDim: mar.cfg.encoderEmbedDim,
      discEmbedDim: mar.cfg.discEmbedDim,
      numSamplingSteps: mar.cfg.numSamplingSteps,
      numTimesteps: mar.diffloss.trainDiffusion.numTimesteps,
      fakeLatent: floats(mar.fake_latent) as number[],
      nullCond: floats(mar.null_cond),
    },
    graphs,
  };
  writeFileAtomic(join(outDir, 'manifest.json'), `${JSON.stringify(manifest, null, 1)}\n`);
  return manifest;
}
