// IDX files (the MNIST / Fashion-MNIST container): a 4-byte magic `00 00 TT NN` (TT = element type,
// NN = number of dimensions), NN big-endian uint32 sizes, then the elements in C order.
// Only uint8 elements (type 0x08) are needed for images and labels; other types fail with a clear error.
// Format: http://yann.lecun.com/exdb/mnist/ ("THE IDX FILE FORMAT").
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

export interface IdxArray {
  /** Sizes of the dimensions, e.g. [60000, 28, 28] for training images. */
  dims: number[];
  /** The elements in C order; a view into the file's bytes. */
  data: Uint8Array;
}

const TYPE_NAMES: Record<number, string> = {
  8: 'uint8',
  9: 'int8',
  11: 'int16',
  12: 'int32',
  13: 'float32',
  14: 'float64',
};

/** Parses IDX bytes (already decompressed). `source` names the file in errors. */
export function parseIdx(bytes: Uint8Array, source = '<buffer>'): IdxArray {
  if (bytes.length < 4) throw new Error(`${source}: not an IDX file (only ${bytes.length} bytes, need a 4-byte magic)`);
  const magic = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
  if (bytes[0] !== 0 || bytes[1] !== 0) throw new Error(`${source}: not an IDX file (magic ${magic}, expected 00 00 TT NN)`);
  const type = bytes[2];
  const ndim = bytes[3];
  if (type !== 0x08) {
    const name = TYPE_NAMES[type];
    throw new Error(
      name
        ? `${source}: IDX element type ${name} (0x${type.toString(16)}) is not supported, only uint8 (0x08)`
        : `${source}: not an IDX file (magic ${magic}: unknown element type 0x${type.toString(16)})`,
    );
  }
  if (ndim === 0) throw new Error(`${source}: IDX file with 0 dimensions (magic ${magic})`);
  const headerBytes = 4 + 4 * ndim;
  if (bytes.length < headerBytes)
    throw new Error(`${source}: truncated IDX header (${bytes.length} bytes, ${ndim} dims need ${headerBytes})`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let d = 0; d < ndim; d++) dims.push(view.getUint32(4 + 4 * d, false));
  const count = dims.reduce((a, b) => a * b, 1);
  const available = bytes.length - headerBytes;
  if (available < count)
    throw new Error(
      `${source}: truncated IDX data (dims [${dims.join(', ')}] need ${count} bytes after the header, file has ${available})`,
    );
  if (available > count)
    throw new Error(`${source}: ${available - count} unexpected trailing bytes after IDX data of dims [${dims.join(', ')}]`);
  return { dims, data: bytes.subarray(headerBytes, headerBytes + count) };
}

/** Reads an IDX file, gunzipping it when it starts with the gzip magic (whatever its name). */
export function readIdx(path: string): IdxArray {
  let bytes: Uint8Array = readFileSync(path);
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (e) {
      throw new Error(`${path}: corrupt or truncated gzip stream (${(e as Error).message})`);
    }
  }
  return parseIdx(bytes, path);
}

/** Encodes a uint8 array as IDX bytes (for tests and for exporting small sets). */
export function encodeIdx(dims: number[], data: Uint8Array): Uint8Array {
  const count = dims.reduce((a, b) => a * b, 1);
  if (data.length !== count) throw new Error(`encodeIdx: dims [${dims.join(', ')}] need ${count} bytes, got ${data.length}`);
  if (dims.length === 0 || dims.length > 255) throw new Error(`encodeIdx: need 1..255 dims, got ${dims.length}`);
  const out = new Uint8Array(4 + 4 * dims.length + count);
  const view = new DataView(out.buffer);
  out[2] = 0x08;
  out[3] = dims.length;
  for (let i = 0; i < dims.length; i++) view.setUint32(4 + 4 * i, dims[i], false);
  out.set(data, 4 + 4 * dims.length);
  return out;
}
