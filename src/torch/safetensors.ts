// safetensors read/write, byte-compatible with Python's `safetensors` (same tensor order,
// compact JSON header padded with spaces to 8 bytes). Reads stream one tensor at a time, so a
// large checkpoint never needs twice its size in memory; writes are atomic (temp + rename).
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { writeFileAtomic } from '../io/atomic_file.ts';
import { fromBuffer } from './creation.ts';
import type { DType } from './dtype.ts';
import type { Tensor } from './tensor.ts';

// complex64 has no safetensors dtype that Python's reader shares; saving one is an error.
const ST_OF: Record<Exclude<DType, 'complex64'>, string> = {
  bool: 'BOOL',
  uint8: 'U8',
  int8: 'I8',
  int16: 'I16',
  int32: 'I32',
  int64: 'I64',
  float16: 'F16',
  bfloat16: 'BF16',
  float32: 'F32',
  float64: 'F64',
};
const DTYPE_OF = new Map(Object.entries(ST_OF).map(([k, v]) => [v, k as DType]));
// Python's writer orders tensors by this dtype rank (descending), then by name.
const RANK: Record<string, number> = { BOOL: 0, U8: 1, I8: 2, I16: 3, F16: 4, BF16: 5, I32: 6, F32: 7, F64: 8, I64: 9 };
const BYTES: Record<string, number> = { BOOL: 1, U8: 1, I8: 1, I16: 2, F16: 2, BF16: 2, I32: 4, F32: 4, F64: 8, I64: 8 };

export interface TensorInfo {
  dtype: DType;
  shape: number[];
  /** Byte range within the data section. */
  offsets: [number, number];
}

export interface SafetensorsHeader {
  metadata: Record<string, string>;
  tensors: Map<string, TensorInfo>;
  /** Byte offset of the data section in the file. */
  dataStart: number;
}

function fail(path: string, msg: string): never {
  throw new Error(`${path}: not a valid safetensors file: ${msg}`);
}

export function readHeader(path: string): SafetensorsHeader {
  const fd = openSync(path, 'r');
  try {
    const size = statSync(path).size;
    if (size < 8) fail(path, `only ${size} bytes`);
    const lenBuf = Buffer.alloc(8);
    readSync(fd, lenBuf, 0, 8, 0);
    const len = Number(lenBuf.readBigUInt64LE(0));
    if (len > size - 8 || len > 100_000_000) fail(path, `header length ${len} exceeds the file size ${size}`);
    const hbuf = Buffer.alloc(len);
    readSync(fd, hbuf, 0, len, 8);
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(hbuf.toString('utf8'));
    } catch (e) {
      fail(path, `header is not JSON (${(e as Error).message})`);
    }
    const tensors = new Map<string, TensorInfo>();
    let metadata: Record<string, string> = {};
    const dataLen = size - 8 - len;
    for (const [name, v] of Object.entries(json)) {
      if (name === '__metadata__') {
        metadata = v as Record<string, string>;
        continue;
      }
      const e = v as { dtype: string; shape: number[]; data_offsets: [number, number] };
      const dtype = DTYPE_OF.get(e.dtype);
      if (!dtype) fail(path, `tensor '${name}' has unsupported dtype ${e.dtype}`);
      const [a, b] = e.data_offsets;
      const n = e.shape.reduce((x, y) => x * y, 1);
      if (b - a !== n * BYTES[e.dtype]) fail(path, `tensor '${name}' has ${b - a} bytes for shape [${e.shape}] ${e.dtype}`);
      if (b > dataLen) fail(path, `tensor '${name}' ends at byte ${b} but the data section has ${dataLen} (truncated?)`);
      tensors.set(name, { dtype, shape: e.shape, offsets: [a, b] });
    }
    return { metadata, tensors, dataStart: 8 + len };
  } finally {
    closeSync(fd);
  }
}

/** Loads tensors (all, or those named in `only`) onto the CPU, streaming one at a time. */
export function loadSafetensors(path: string, opts: { only?: Iterable<string> } = {}): Map<string, Tensor> {
  const header = readHeader(path);
  const names = opts.only ? [...opts.only] : [...header.tensors.keys()];
  const out = new Map<string, Tensor>();
  const fd = openSync(path, 'r');
  try {
    for (const name of names) {
      const info = header.tensors.get(name);
      if (!info) throw new Error(`${path}: no tensor named '${name}'`);
      const [a, b] = info.offsets;
      const buf = Buffer.allocUnsafe(b - a);
      let done = 0;
      while (done < buf.length) {
        const n = readSync(fd, buf, done, buf.length - done, header.dataStart + a + done);
        if (n === 0) throw new Error(`${path}: unexpected end of file reading '${name}'`);
        done += n;
      }
      out.set(name, fromBuffer(buf, info.shape, info.dtype));
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

/** Writes tensors as Python's safetensors.torch.save_file would, atomically. */
export function saveSafetensors(
  path: string,
  tensors: Map<string, Tensor> | Record<string, Tensor>,
  metadata?: Record<string, string>,
): void {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const items = entries.map(([name, t]) => {
    if (t.dtype === 'complex64') throw new Error(`saveSafetensors: '${name}' is complex64, which safetensors cannot store`);
    return { name, t, st: ST_OF[t.dtype], shape: t.shape };
  });
  items.sort((x, y) => RANK[y.st] - RANK[x.st] || (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const it of items) {
    const n = it.shape.reduce((a, b) => a * b, 1) * BYTES[it.st];
    header[it.name] = { dtype: it.st, shape: it.shape, data_offsets: [offset, offset + n] };
    offset += n;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const hbuf = Buffer.from(json, 'utf8');
  const lenBuf = Buffer.alloc(8);
  lenBuf.writeBigUInt64LE(BigInt(hbuf.length));

  writeFileAtomic(path, (write) => {
    write(lenBuf);
    write(hbuf);
    for (const it of items) write(new Uint8Array(it.t.toTypedArray().buffer));
  });
}
