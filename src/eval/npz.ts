// NumPy `.npy` / `.npz` files, for FID statistics (`mu`, `sigma`) as pytorch-fid and the ADM
// evaluator (guided-diffusion/evaluations/evaluator.py) read and write them.
// `.npz` is a zip of `.npy` members: np.savez stores them, np.savez_compressed deflates them, and
// both write zip64 extras (numpy passes force_zip64=True), so sizes are read from the central
// directory and its zip64 extra field.

import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { crc32, deflateRawSync, inflateRawSync } from 'node:zlib';
import { writeFileAtomic } from '../io/atomic_file.ts';
import type { Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';

type NpyDtype = 'float32' | 'float64' | 'int64' | 'int32' | 'uint8';
const DESCR: Record<string, NpyDtype> = { '<f4': 'float32', '<f8': 'float64', '<i8': 'int64', '<i4': 'int32', '|u1': 'uint8' };
const DESCR_OF: Record<NpyDtype, string> = { float32: '<f4', float64: '<f8', int64: '<i8', int32: '<i4', uint8: '|u1' };
const ITEMSIZE: Record<NpyDtype, number> = { float32: 4, float64: 8, int64: 8, int32: 4, uint8: 1 };
const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

// ---- .npy ------------------------------------------------------------------------------

interface NpyHeader {
  dtype: NpyDtype;
  shape: number[];
  fortran: boolean;
  /** Byte offset of the data from the start of the `.npy`. */
  dataStart: number;
}

/** The header of a `.npy` buffer (format 1.0, 2.0 or 3.0); the buffer may hold only its start. */
function parseNpyHeader(buf: Buffer, what: string): NpyHeader {
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC)) throw new Error(`${what}: not a .npy buffer (bad magic)`);
  const major = buf[6];
  const hlenSize = major === 1 ? 2 : 4;
  if (major < 1 || major > 3) throw new Error(`${what}: unsupported .npy format version ${major}.${buf[7]}`);
  const hlen = hlenSize === 2 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = 8 + hlenSize;
  const header = buf.subarray(start, start + hlen).toString(major === 3 ? 'utf8' : 'latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1] === 'True';
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || shapeText === undefined) throw new Error(`${what}: cannot parse .npy header ${header.trim()}`);
  const dtype = DESCR[descr];
  if (!dtype) throw new Error(`${what}: dtype '${descr}' not supported (expected one of ${Object.keys(DESCR).join(', ')})`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number);
  return { dtype, shape, fortran, dataStart: start + hlen };
}

/** Parses one `.npy` buffer (format 1.0, 2.0 or 3.0; little-endian f4/f8/i4/i8/u1; C or Fortran order). */
export function parseNpy(buf: Buffer, what = 'npy'): Tensor {
  const { dtype, shape, fortran, dataStart } = parseNpyHeader(buf, what);
  const n = shape.reduce((a, b) => a * b, 1);
  const bytes = n * ITEMSIZE[dtype];
  if (buf.length < dataStart + bytes) throw new Error(`${what}: truncated data (${buf.length - dataStart} of ${bytes} bytes)`);
  // Copy into a fresh, aligned buffer: the member may sit at any offset of the zip.
  const data = new Uint8Array(bytes);
  data.set(buf.subarray(dataStart, dataStart + bytes));
  if (!fortran) return torch.fromBuffer(data, shape, dtype);
  // Fortran order is C order of the reversed shape, transposed back.
  return torch.tidy(() => {
    const rev = torch.fromBuffer(data, [...shape].reverse(), dtype);
    return rev.permute(...shape.map((_, i) => shape.length - 1 - i)).contiguous();
  });
}

/** Serialises a tensor as a `.npy` (format 1.0, C order). */
export function toNpy(t: Tensor, what = 'npy'): Buffer {
  const dtype = t.dtype as NpyDtype;
  if (!DESCR_OF[dtype])
    throw new Error(`${what}: dtype ${t.dtype} cannot be written (expected ${Object.keys(DESCR_OF).join(', ')})`);
  const shape = t.shape;
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${DESCR_OF[dtype]}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // numpy pads the header with spaces and ends it with '\n' so data starts on a 64-byte boundary.
  const total = MAGIC.length + 2 + 2 + header.length + 1;
  header += `${' '.repeat((64 - (total % 64)) % 64)}\n`;
  const pre = Buffer.alloc(10);
  MAGIC.copy(pre, 0);
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  const c = t.contiguous();
  const data = Buffer.from(c.toTypedArray().buffer);
  if (c !== t) c.dispose();
  return Buffer.concat([pre, Buffer.from(header, 'latin1'), data]);
}

// ---- zip container -----------------------------------------------------------------------

interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

/** Reads `len` bytes at byte `pos` of a zip (a buffer in memory or a file read by offset). */
type ByteReader = (pos: number, len: number) => Buffer;

function readCentralDirectory(read: ByteReader, fileSize: number, what: string): ZipEntry[] {
  // End of central directory: signature 0x06054b50 within the last 64 KiB + 22 bytes.
  const tailStart = Math.max(0, fileSize - 22 - 0xffff);
  const tail = read(tailStart, fileSize - tailStart);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error(`${what}: not a zip/.npz file (no end-of-central-directory record)`);
  let count = tail.readUInt16LE(eocd + 10);
  let cdSize = tail.readUInt32LE(eocd + 12);
  let cdOffset = tail.readUInt32LE(eocd + 16);
  // Zip64 end-of-central-directory locator sits just before the EOCD when present.
  if (eocd >= 20 && tail.readUInt32LE(eocd - 20) === 0x07064b50) {
    const z64 = Number(tail.readBigUInt64LE(eocd - 20 + 8));
    const rec = read(z64, 56);
    if (rec.readUInt32LE(0) === 0x06064b50) {
      count = Number(rec.readBigUInt64LE(32));
      cdSize = Number(rec.readBigUInt64LE(40));
      cdOffset = Number(rec.readBigUInt64LE(48));
    }
  }
  const buf = read(cdOffset, cdSize);
  const entries: ZipEntry[] = [];
  let p = 0;
  for (let k = 0; k < count; k++) {
    if (buf.readUInt32LE(p) !== 0x02014b50) throw new Error(`${what}: corrupt central directory at byte ${cdOffset + p}`);
    const method = buf.readUInt16LE(p + 10);
    let compressedSize = buf.readUInt32LE(p + 20);
    let size = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    let localOffset = buf.readUInt32LE(p + 42);
    const name = buf.subarray(p + 46, p + 46 + nameLen).toString('utf8');
    // Zip64 extra (id 1): the 64-bit values, in this order, for the fields that read 0xFFFFFFFF.
    let e = p + 46 + nameLen;
    const eEnd = e + extraLen;
    while (e + 4 <= eEnd) {
      const id = buf.readUInt16LE(e);
      const len = buf.readUInt16LE(e + 2);
      if (id === 1) {
        let q = e + 4;
        if (size === 0xffffffff) {
          size = Number(buf.readBigUInt64LE(q));
          q += 8;
        }
        if (compressedSize === 0xffffffff) {
          compressedSize = Number(buf.readBigUInt64LE(q));
          q += 8;
        }
        if (localOffset === 0xffffffff) localOffset = Number(buf.readBigUInt64LE(q));
      }
      e += 4 + len;
    }
    entries.push({ name, method, compressedSize, size, localOffset });
    p = eEnd + commentLen;
  }
  return entries;
}

/** Byte offset of a member's (possibly compressed) data: after its local header. */
function memberStart(read: ByteReader, e: ZipEntry, what: string): number {
  const h = read(e.localOffset, 30);
  if (h.readUInt32LE(0) !== 0x04034b50) throw new Error(`${what}: corrupt local header for ${e.name}`);
  return e.localOffset + 30 + h.readUInt16LE(26) + h.readUInt16LE(28);
}

function memberData(read: ByteReader, e: ZipEntry, what: string): Buffer {
  const raw = read(memberStart(read, e, what), e.compressedSize);
  if (e.method === 0) return raw;
  if (e.method === 8) return inflateRawSync(raw);
  throw new Error(`${what}: member ${e.name} uses zip method ${e.method} (only stored=0 and deflated=8 are supported)`);
}

/** Reads every array of an `.npz` file (names without `.npy`), as np.load does. */
export function loadNpz(path: string): Map<string, Tensor> {
  const buf = readFileSync(path);
  const read: ByteReader = (pos, len) => buf.subarray(pos, pos + len);
  const out = new Map<string, Tensor>();
  for (const e of readCentralDirectory(read, buf.length, path)) {
    if (!e.name.endsWith('.npy')) continue;
    const name = e.name.slice(0, -4);
    out.set(name, parseNpy(memberData(read, e, path), `${path}:${e.name}`));
  }
  return out;
}

/**
 * An `.npz` opened by offset, without reading it whole (reference batches of images reach gigabytes,
 * beyond what one read can return): its array names, any one array, and the rows of a stored
 * (np.savez) C-order array a range at a time.
 */
export class NpzFile {
  private readonly entries = new Map<string, ZipEntry>();
  private readonly fd: number;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'r');
    try {
      for (const e of readCentralDirectory(this.read, fstatSync(this.fd).size, path))
        if (e.name.endsWith('.npy')) this.entries.set(e.name.slice(0, -4), e);
    } catch (err) {
      closeSync(this.fd);
      throw err;
    }
  }

  private readonly read: ByteReader = (pos, len) => {
    const out = Buffer.allocUnsafe(len);
    for (let done = 0; done < len; ) {
      const n = readSync(this.fd, out, done, Math.min(len - done, 1 << 30), pos + done);
      if (n === 0) throw new Error(`${this.path}: truncated (wanted ${len} bytes at ${pos})`);
      done += n;
    }
    return out;
  };

  get names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** One whole array. */
  array(name: string): Tensor {
    const e = this.entry(name);
    return parseNpy(memberData(this.read, e, this.path), `${this.path}:${e.name}`);
  }

  /**
   * Rows [start, end) along the first axis of `name`, reading only their bytes when the member is
   * stored uncompressed in C order (np.savez); otherwise from the whole array.
   */
  rows(name: string, start: number, end: number): Tensor {
    const e = this.entry(name);
    if (e.method === 0) {
      const at = memberStart(this.read, e, this.path);
      const head = parseNpyHeader(this.read(at, Math.min(e.size, 65536 + 12)), `${this.path}:${e.name}`);
      if (!head.fortran && head.shape.length > 0) {
        const row = head.shape.slice(1).reduce((a, b) => a * b, 1) * ITEMSIZE[head.dtype];
        const bytes = this.read(at + head.dataStart + start * row, (end - start) * row);
        return torch.fromBuffer(new Uint8Array(bytes), [end - start, ...head.shape.slice(1)], head.dtype);
      }
    }
    return torch.tidy(() =>
      this.array(name)
        .narrow(0, start, end - start)
        .contiguous(),
    );
  }

  /** Shape and dtype of an array, from its header only (stored members) or the array. */
  info(name: string): { shape: number[]; dtype: string } {
    const e = this.entry(name);
    if (e.method === 0) {
      const head = parseNpyHeader(this.read(memberStart(this.read, e, this.path), Math.min(e.size, 65536 + 12)), name);
      return { shape: head.shape, dtype: head.dtype };
    }
    const t = this.array(name);
    const out = { shape: t.shape, dtype: t.dtype };
    t.dispose();
    return out;
  }

  close(): void {
    closeSync(this.fd);
  }

  private entry(name: string): ZipEntry {
    const e = this.entries.get(name);
    if (!e) throw new Error(`${this.path}: no array '${name}' (has ${this.names.join(', ') || 'none'})`);
    return e;
  }
}

/** Writes arrays as np.savez (stored) or np.savez_compressed (`compress`), atomically. */
export function saveNpz(
  path: string,
  arrays: Map<string, Tensor> | Record<string, Tensor>,
  opts: { compress?: boolean } = {},
): void {
  const entries = arrays instanceof Map ? [...arrays.entries()] : Object.entries(arrays);
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [key, t] of entries) {
    const name = Buffer.from(`${key}.npy`, 'utf8');
    const data = toNpy(t, `${path}:${key}`);
    const method = opts.compress ? 8 : 0;
    const body = method === 8 ? deflateRawSync(data) : data;
    if (offset + body.length > 0xfffffff0)
      throw new Error(`saveNpz: ${path} would exceed 4 GiB (zip64 writing is not supported)`);
    const crc = crc32(data) >>> 0;
    // Fields shared by local header (from byte 4) and central entry (from byte 6).
    const common = Buffer.alloc(26);
    common.writeUInt16LE(20, 0); // version needed
    common.writeUInt16LE(0, 2); // flags
    common.writeUInt16LE(method, 4);
    common.writeUInt16LE(0, 6); // mod time
    common.writeUInt16LE(0x21, 8); // mod date 1980-01-01
    common.writeUInt32LE(crc, 10);
    common.writeUInt32LE(body.length, 14);
    common.writeUInt32LE(data.length, 18);
    common.writeUInt16LE(name.length, 22);
    common.writeUInt16LE(0, 24); // extra length
    const local = Buffer.concat([u32(0x04034b50), common, name, body]);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4); // version made by
    common.copy(central, 6);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);
    locals.push(local);
    offset += local.length;
  }
  const cd = Buffer.concat(centrals);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(entries.length, 8);
  eocd.writeUInt16LE(entries.length, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(offset, 16);
  writeFileAtomic(path, Buffer.concat([...locals, cd, eocd]));
}

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
}
