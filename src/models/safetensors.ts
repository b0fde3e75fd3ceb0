// safetensors reader/writer in plain TypeScript: libtorch 1.13 has no safetensors support, so we parse here.
//
// Format (https://github.com/huggingface/safetensors): u64 little-endian header length N, N bytes of UTF-8 JSON
// `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}`, then the raw little-endian,
// C-order tensor bytes; offsets are relative to the start of that data section.
import * as fs from 'node:fs';
import { DrhardInputError } from '../util/errors.ts';
import { assertNotPointer } from '../util/pointer.ts';
import { AtomicWriter } from '../util/fsx.ts';

/** The safetensors dtype names we read and write, with the project's dtype names and element sizes. */
const DTYPES = {
  F64: { dtype: 'float64', size: 8 },
  F32: { dtype: 'float32', size: 4 },
  F16: { dtype: 'float16', size: 2 },
  BF16: { dtype: 'bfloat16', size: 2 },
  I64: { dtype: 'int64', size: 8 },
  I32: { dtype: 'int32', size: 4 },
  I8: { dtype: 'int8', size: 1 },
  U8: { dtype: 'uint8', size: 1 },
  BOOL: { dtype: 'bool', size: 1 },
} as const;

export type SafetensorsDType = keyof typeof DTYPES;
export type StDType = (typeof DTYPES)[SafetensorsDType]['dtype'];

/** One tensor's header entry; `begin`/`end` are absolute byte positions in the file (header included). */
export interface SafetensorsEntry {
  readonly name: string;
  readonly dtype: StDType;
  readonly shape: number[];
  readonly begin: number;
  readonly end: number;
}

/** A tensor's raw bytes plus what is needed to rebuild it (hand `data` to the tensor API's `fromBuffer`). */
export interface RawTensor {
  readonly dtype: StDType;
  readonly shape: number[];
  readonly data: Uint8Array;
}

export interface SafetensorsHeader {
  readonly entries: SafetensorsEntry[];
  readonly metadata: Record<string, string>;
  /** Byte position where the data section starts (8 + header length). */
  readonly dataStart: number;
}

// The reference implementation refuses headers above 100 MB; a larger value is a corrupt length field.
const MAX_HEADER = 100_000_000;

export function dtypeSize(dtype: StDType): number {
  for (const v of Object.values(DTYPES)) if (v.dtype === dtype) return v.size;
  throw new Error(`unknown dtype ${dtype}`);
}

function toStName(dtype: StDType): SafetensorsDType {
  for (const [k, v] of Object.entries(DTYPES)) if (v.dtype === dtype) return k as SafetensorsDType;
  throw new Error(`unknown dtype ${dtype}`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Validates the JSON header against a file of `fileSize` bytes: offsets in range, disjoint, and each tensor's
 * byte count equal to prod(shape) × dtype size. Every failure is a DrhardInputError naming `file` and the tensor.
 */
export function parseHeader(headerBytes: Uint8Array, fileSize: number, file: string): SafetensorsHeader {
  const dataStart = 8 + headerBytes.byteLength;
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (e) {
    throw new DrhardInputError(`safetensors header is not valid UTF-8 JSON (${(e as Error).message})`, { file });
  }
  if (!isRecord(json)) throw new DrhardInputError('safetensors header is not a JSON object', { file });
  const dataSize = fileSize - dataStart;
  const entries: SafetensorsEntry[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (!isRecord(raw) || !Object.values(raw).every((v) => typeof v === 'string')) {
        throw new DrhardInputError('__metadata__ must map strings to strings', { file, field: '__metadata__' });
      }
      metadata = raw as Record<string, string>;
      continue;
    }
    const where = { file, field: name };
    if (!isRecord(raw)) throw new DrhardInputError('header entry is not an object', where);
    const { dtype, shape, data_offsets: offs } = raw;
    if (typeof dtype !== 'string' || !Object.hasOwn(DTYPES, dtype)) {
      throw new DrhardInputError(
        `unsupported dtype ${JSON.stringify(dtype)} (supported: ${Object.keys(DTYPES).join(', ')})`,
        where,
      );
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new DrhardInputError(`shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`, where);
    }
    if (
      !Array.isArray(offs) ||
      offs.length !== 2 ||
      !offs.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offs[0] > offs[1]
    ) {
      throw new DrhardInputError(`data_offsets must be [begin, end] with 0 <= begin <= end, got ${JSON.stringify(offs)}`, where);
    }
    const [b, e] = offs as [number, number];
    if (e > dataSize) {
      throw new DrhardInputError(
        `data_offsets [${b}, ${e}] run past the end of the data section (${Math.max(0, dataSize)} bytes); the file is truncated or corrupt`,
        where,
      );
    }
    const { dtype: dt, size } = DTYPES[dtype as SafetensorsDType];
    const numel = (shape as number[]).reduce((a, d) => a * d, 1);
    if (numel * size !== e - b) {
      throw new DrhardInputError(
        `${dtype} tensor of shape [${(shape as number[]).join(', ')}] needs ${numel * size} bytes, data_offsets give ${e - b}`,
        where,
      );
    }
    entries.push({ name, dtype: dt, shape: (shape as number[]).slice(), begin: dataStart + b, end: dataStart + e });
  }
  const sorted = [...entries].sort((x, y) => x.begin - y.begin || x.end - y.end);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const cur = sorted[i]!;
    if (cur.begin < prev.end) {
      throw new DrhardInputError(`data of ${JSON.stringify(cur.name)} overlaps ${JSON.stringify(prev.name)}`, {
        file,
        field: cur.name,
      });
    }
  }
  return { entries, metadata, dataStart };
}

function readHeaderLength(prefix: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < 8) throw new DrhardInputError(`file is ${fileSize} bytes, too short for a safetensors header`, { file });
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(fileSize - 8) || n > BigInt(MAX_HEADER)) {
    throw new DrhardInputError(
      `header length ${n} exceeds the file size (${fileSize} bytes); the file is truncated or not safetensors`,
      { file },
    );
  }
  return Number(n);
}

/** Parses a whole safetensors file held in memory. Returned tensors are views into `bytes`. */
export function parseSafetensors(bytes: Uint8Array, file = '<buffer>'): { tensors: Map<string, RawTensor>; metadata: Record<string, string> } {
  const n = readHeaderLength(bytes, bytes.byteLength, file);
  const header = parseHeader(bytes.subarray(8, 8 + n), bytes.byteLength, file);
  const tensors = new Map<string, RawTensor>();
  for (const e of header.entries) {
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: bytes.subarray(e.begin, e.end) });
  }
  return { tensors, metadata: header.metadata };
}

/**
 * A safetensors file opened for positional reads: only the header is read up front, so a large checkpoint is
 * loaded one tensor at a time instead of twice in memory.
 */
export class SafetensorsFile implements Disposable {
  readonly path: string;
  readonly header: SafetensorsHeader;
  private fd: number;
  private readonly byName: Map<string, SafetensorsEntry>;

  constructor(path: string) {
    this.path = path;
    let fd: number;
    try {
      fd = fs.openSync(path, 'r');
    } catch (e) {
      throw new DrhardInputError(`cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { file: path });
    }
    this.fd = fd;
    try {
      assertNotPointer(path, fd);
      const size = fs.fstatSync(fd).size;
      const prefix = new Uint8Array(8);
      fs.readSync(fd, prefix, 0, Math.min(8, size), 0);
      const n = readHeaderLength(prefix, size, path);
      const hb = new Uint8Array(n);
      readFully(fd, hb, 8);
      this.header = parseHeader(hb, size, path);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    this.byName = new Map(this.header.entries.map((e) => [e.name, e]));
  }

  get names(): string[] {
    return this.header.entries.map((e) => e.name);
  }

  entry(name: string): SafetensorsEntry | undefined {
    return this.byName.get(name);
  }

  read(name: string): RawTensor {
    const e = this.byName.get(name);
    if (!e) throw new DrhardInputError(`no tensor named ${JSON.stringify(name)}`, { file: this.path });
    const data = new Uint8Array(e.end - e.begin);
    readFully(this.fd, data, e.begin);
    return { dtype: e.dtype, shape: e.shape, data };
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function readFully(fd: number, buf: Uint8Array, position: number): void {
  let off = 0;
  while (off < buf.byteLength) {
    const n = fs.readSync(fd, buf, off, buf.byteLength - off, position + off);
    if (n === 0) throw new Error('unexpected end of file');
    off += n;
  }
}

/** Reads every tensor of a safetensors file. */
export function readSafetensors(path: string): { tensors: Map<string, RawTensor>; metadata: Record<string, string> } {
  using f = new SafetensorsFile(path);
  const tensors = new Map<string, RawTensor>();
  for (const name of f.names) tensors.set(name, f.read(name));
  return { tensors, metadata: f.header.metadata };
}

/** Header bytes (padded with spaces to a multiple of 8, as the reference writer does); data laid out in order. */
function buildHeader(
  entries: Array<[string, { dtype: StDType; shape: number[] }]>,
  metadata: Record<string, string> | undefined,
): Uint8Array {
  const obj: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) obj['__metadata__'] = metadata;
  let off = 0;
  for (const [name, t] of entries) {
    const bytes = byteLength(t);
    obj[name] = { dtype: toStName(t.dtype), shape: t.shape, data_offsets: [off, off + bytes] };
    off += bytes;
  }
  let json = JSON.stringify(obj);
  while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += ' ';
  return new TextEncoder().encode(json);
}

function byteLength(t: { dtype: StDType; shape: number[] }): number {
  return t.shape.reduce((a, d) => a * d, 1) * dtypeSize(t.dtype);
}

function lengthPrefix(n: number): Uint8Array {
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(n), true);
  return len;
}

/** Serializes tensors (in the given order) to safetensors bytes. */
export function encodeSafetensors(tensors: Iterable<[string, RawTensor]>, metadata?: Record<string, string>): Uint8Array {
  const entries = [...tensors];
  for (const [name, t] of entries) {
    if (byteLength(t) !== t.data.byteLength) {
      throw new Error(`tensor ${name}: shape [${t.shape.join(', ')}] × ${t.dtype} needs ${byteLength(t)} bytes, got ${t.data.byteLength}`);
    }
  }
  const header = buildHeader(entries, metadata);
  const total = 8 + header.byteLength + entries.reduce((a, [, t]) => a + t.data.byteLength, 0);
  const out = new Uint8Array(total);
  out.set(lengthPrefix(header.byteLength), 0);
  out.set(header, 8);
  let off = 8 + header.byteLength;
  for (const [, t] of entries) {
    out.set(t.data, off);
    off += t.data.byteLength;
  }
  return out;
}

/** A tensor to write whose bytes are produced only when written, so a large model is never held twice. */
export interface LazyTensor {
  readonly dtype: StDType;
  readonly shape: number[];
  bytes(): Uint8Array;
}

/** Writes tensors to `path` atomically (temp file + fsync + rename), in the given order, one at a time. */
export function writeSafetensors(path: string, tensors: Array<[string, LazyTensor]>, metadata?: Record<string, string>): void {
  const header = buildHeader(tensors, metadata);
  const w = new AtomicWriter(path);
  try {
    w.write(lengthPrefix(header.byteLength));
    w.write(header);
    for (const [name, t] of tensors) {
      const data = t.bytes();
      if (data.byteLength !== byteLength(t)) {
        throw new Error(`tensor ${name}: expected ${byteLength(t)} bytes, producer gave ${data.byteLength}`);
      }
      w.write(data);
    }
    w.commit();
  } catch (e) {
    w.abort();
    throw e;
  }
}
