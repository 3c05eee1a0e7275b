// Worker-thread side of DecodePool: decodes the files of one request and sends the pixels back
// (transferred, not copied). Errors are returned per file so that one bad image does not fail a batch.
import { parentPort } from 'node:worker_threads';
import { decodeImage } from './image_folder.ts';

export interface DecodeRequest {
  id: number;
  paths: string[];
  size: number;
  channels: 1 | 3;
}
export interface DecodeReply {
  id: number;
  results: (Uint8Array | string)[];
}

const port = parentPort;
if (!port) throw new Error('decode_worker.ts must run in a worker thread');
port.on('message', async (req: DecodeRequest) => {
  const results = await Promise.all(
    req.paths.map((p) => decodeImage(p, req.size, req.channels).catch((e: Error) => `${p}: ${e.message}`)),
  );
  const transfer = results.filter((r): r is Uint8Array => typeof r !== 'string').map((r) => r.buffer as ArrayBuffer);
  port.postMessage({ id: req.id, results } satisfies DecodeReply, transfer);
});
