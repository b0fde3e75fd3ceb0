// Reader for PyTorch `torch.save` state dicts (pytorch_model.bin): the zip format (torch >= 1.6) and the legacy
// tar-less format (DRhard/ANCE-era checkpoints). libtorch's C++ unpickler turns `collections.OrderedDict` (what
// `state_dict()` returns) into None, so HF checkpoints cannot go through torch::pickle_load; we unpickle here,
// allowing only the globals a state dict uses, and hand raw storage bytes to `fromBuffer`.
import * as fs from 'node:fs';
import { fromBuffer, type DType, type Tensor } from './tensor.ts';
import { DrhardInputError } from '../util/errors.ts';
import { assertNotPointer } from '../util/pointer.ts';

const STORAGE_DTYPES: Record<string, { dtype: DType; size: number }> = {
  FloatStorage: { dtype: 'float32', size: 4 },
  DoubleStorage: { dtype: 'float64', size: 8 },
  HalfStorage: { dtype: 'float16', size: 2 },
  BFloat16Storage: { dtype: 'bfloat16', size: 2 },
  LongStorage: { dtype: 'int64', size: 8 },
  IntStorage: { dtype: 'int32', size: 4 },
  ByteStorage: { dtype: 'uint8', size: 1 },
  CharStorage: { dtype: 'int8', size: 1 },
  BoolStorage: { dtype: 'bool', size: 1 },
};

class Global {
  constructor(readonly name: string) {}
}
class Tuple {
  constructor(readonly items: unknown[]) {}
}
class StorageRef {
  constructor(
    readonly key: string,
    readonly dtype: DType,
    readonly elementSize: number,
    /** Element offset into the root storage (legacy views), else 0. */
    readonly viewOffset: number,
  ) {}
}
class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}
const MARK = Symbol('mark');

function fail(file: string, msg: string): never {
  throw new DrhardInputError(`cannot read torch.save file: ${msg}`, { file });
}

function toInts(v: unknown, what: string, file: string): number[] {
  const items = v instanceof Tuple ? v.items : Array.isArray(v) ? v : fail(file, `${what} is not a tuple`);
  return items.map((x) => (typeof x === 'number' && Number.isSafeInteger(x) ? x : fail(file, `${what} holds a non-integer`)));
}

function callGlobal(g: Global, args: unknown, file: string): unknown {
  const a = args instanceof Tuple ? args.items : fail(file, `arguments of ${g.name} are not a tuple`);
  switch (g.name) {
    case 'collections.OrderedDict':
      return new Map<unknown, unknown>();
    case 'torch._utils._rebuild_tensor_v2':
    case 'torch._utils._rebuild_tensor': {
      const [storage, offset, size, stride] = a;
      if (!(storage instanceof StorageRef) || typeof offset !== 'number') fail(file, `bad ${g.name} arguments`);
      return new TensorRef(storage, offset, toInts(size, 'tensor size', file), toInts(stride, 'tensor stride', file));
    }
    case 'torch._utils._rebuild_parameter':
      return a[0];
    default:
      return fail(file, `unsupported global ${g.name} (only plain state dicts of tensors are read)`);
  }
}

/** A minimal pickle VM (protocols 2–4) for state dicts; `persistentLoad` resolves storage ids. */
function unpickle(buf: Uint8Array, start: number, file: string, persistentLoad: (pid: unknown) => unknown): { value: unknown; end: number } {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const stack: unknown[] = [];
  const memo = new Map<number, unknown>();
  let pos = start;
  const need = (n: number): void => {
    if (pos + n > buf.byteLength) fail(file, 'pickle data ends early (truncated file?)');
  };
  const u8 = (): number => {
    need(1);
    return buf[pos++]!;
  };
  const u16 = (): number => {
    need(2);
    const v = dv.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = (): number => {
    need(4);
    const v = dv.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const bytes = (n: number): Uint8Array => {
    need(n);
    const b = buf.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  const utf8 = (n: number): string => new TextDecoder().decode(bytes(n));
  const line = (): string => {
    const end = buf.indexOf(0x0a, pos);
    if (end < 0) fail(file, 'unterminated GLOBAL');
    const s = new TextDecoder().decode(buf.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const pop = (): unknown => {
    if (stack.length === 0) fail(file, 'pickle stack underflow');
    return stack.pop();
  };
  const popMark = (): unknown[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) fail(file, 'pickle MARK missing');
    const items = stack.splice(i);
    items.shift();
    return items;
  };
  const top = (): unknown => (stack.length > 0 ? stack[stack.length - 1] : fail(file, 'pickle stack underflow'));
  const setItems = (d: unknown, kv: unknown[]): void => {
    if (!(d instanceof Map)) fail(file, 'SETITEM on a non-dict');
    for (let i = 0; i + 1 < kv.length; i += 2) d.set(kv[i], kv[i + 1]);
  };
  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: u8(); break; // PROTO
      case 0x95: bytes(8); break; // FRAME
      case 0x2e: return { value: pop(), end: pos }; // STOP
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x29: stack.push(new Tuple([])); break; // EMPTY_TUPLE
      case 0x28: stack.push(MARK); break;
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break;
      case 0x89: stack.push(false); break;
      case 0x4b: stack.push(u8()); break; // BININT1
      case 0x4d: stack.push(u16()); break; // BININT2
      case 0x4a: { need(4); stack.push(dv.getInt32(pos, true)); pos += 4; break; } // BININT
      case 0x8a: { // LONG1
        const n = u8();
        const b = bytes(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
        if (n > 0 && b[n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
        stack.push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
        break;
      }
      case 0x47: { need(8); stack.push(dv.getFloat64(pos, false)); pos += 8; break; } // BINFLOAT
      case 0x58: stack.push(utf8(u32())); break; // BINUNICODE
      case 0x8c: stack.push(utf8(u8())); break; // SHORT_BINUNICODE
      case 0x54: stack.push(utf8(u32())); break; // BINSTRING
      case 0x55: stack.push(utf8(u8())); break; // SHORT_BINSTRING
      case 0x43: stack.push(bytes(u8()).slice()); break; // SHORT_BINBYTES
      case 0x42: stack.push(bytes(u32()).slice()); break; // BINBYTES
      case 0x71: memo.set(u8(), top()); break; // BINPUT
      case 0x72: memo.set(u32(), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x68: case 0x6a: { // BINGET, LONG_BINGET
        const k = op === 0x68 ? u8() : u32();
        if (!memo.has(k)) fail(file, `pickle memo ${k} missing`);
        stack.push(memo.get(k));
        break;
      }
      case 0x74: stack.push(new Tuple(popMark())); break; // TUPLE
      case 0x85: stack.push(new Tuple([pop()])); break;
      case 0x86: { const b = pop(); stack.push(new Tuple([pop(), b])); break; }
      case 0x87: { const c = pop(); const b = pop(); stack.push(new Tuple([pop(), b, c])); break; }
      case 0x63: { const mod = line(); stack.push(new Global(`${mod}.${line()}`)); break; } // GLOBAL
      case 0x93: { const name = pop(); const mod = pop(); stack.push(new Global(`${String(mod)}.${String(name)}`)); break; }
      case 0x51: stack.push(persistentLoad(pop())); break; // BINPERSID
      case 0x52: case 0x81: { // REDUCE, NEWOBJ
        const args = pop();
        const fn = pop();
        if (!(fn instanceof Global)) fail(file, 'REDUCE on a non-global');
        stack.push(callGlobal(fn, args, file));
        break;
      }
      case 0x62: pop(); break; // BUILD: OrderedDict._metadata and similar state is not needed
      case 0x73: { const v = pop(); const k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const kv = popMark(); setItems(top(), kv); break; } // SETITEMS
      case 0x61: { const v = pop(); const l = top(); if (!Array.isArray(l)) fail(file, 'APPEND on a non-list'); l.push(v); break; }
      case 0x65: { const items = popMark(); const l = top(); if (!Array.isArray(l)) fail(file, 'APPENDS on a non-list'); l.push(...items); break; }
      default:
        fail(file, `unsupported pickle opcode 0x${op.toString(16)} at byte ${pos - 1}`);
    }
  }
}

function storageFromPid(pid: unknown, file: string): StorageRef {
  // ('storage', storage_type, key, location, numel[, view_metadata])
  if (!(pid instanceof Tuple) || pid.items[0] !== 'storage') fail(file, 'unsupported persistent id');
  const [, type, key, , , view] = pid.items;
  if (!(type instanceof Global)) fail(file, 'storage type is not a global');
  const short = type.name.replace(/^torch\./, '');
  const dt = STORAGE_DTYPES[short] ?? fail(file, `unsupported storage type ${type.name}`);
  let viewOffset = 0;
  let k = String(key);
  if (view instanceof Tuple) {
    // Legacy storage views: (view_key, offset, view_size) into the root storage `key`.
    viewOffset = Number(view.items[1]);
    k = String(key);
  }
  return new StorageRef(k, dt.dtype, dt.size, viewOffset);
}

// ---- zip container (stored entries, as torch.save writes them; zip64 for files above 4 GiB) ----
interface ZipEntry {
  name: string;
  dataStart: number;
  size: number;
}

function readZip(buf: Uint8Array, file: string): Map<string, ZipEntry> {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let eocd = -1;
  for (let i = buf.byteLength - 22; i >= Math.max(0, buf.byteLength - 22 - 65535); i--) {
    if (dv.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) fail(file, 'zip end-of-directory record not found (truncated file?)');
  let count = dv.getUint16(eocd + 10, true);
  let cdOffset = dv.getUint32(eocd + 16, true);
  if (cdOffset === 0xffffffff || count === 0xffff) {
    const loc = eocd - 20;
    if (loc < 0 || dv.getUint32(loc, true) !== 0x07064b50) fail(file, 'zip64 locator missing');
    const e64 = Number(dv.getBigUint64(loc + 8, true));
    if (e64 + 56 > buf.byteLength || dv.getUint32(e64, true) !== 0x06064b50) fail(file, 'zip64 end record missing');
    count = Number(dv.getBigUint64(e64 + 32, true));
    cdOffset = Number(dv.getBigUint64(e64 + 48, true));
  }
  const out = new Map<string, ZipEntry>();
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > buf.byteLength || dv.getUint32(p, true) !== 0x02014b50) fail(file, 'corrupt zip central directory');
    const method = dv.getUint16(p + 10, true);
    let size = dv.getUint32(p + 20, true);
    const nameLen = dv.getUint16(p + 28, true);
    const extraLen = dv.getUint16(p + 30, true);
    const commentLen = dv.getUint16(p + 32, true);
    let local = dv.getUint32(p + 42, true);
    const name = new TextDecoder().decode(buf.subarray(p + 46, p + 46 + nameLen));
    // zip64 extra field: the 64-bit values appear in order for each 32-bit field that is 0xffffffff.
    let x = p + 46 + nameLen;
    const xEnd = x + extraLen;
    while (x + 4 <= xEnd) {
      const id = dv.getUint16(x, true);
      const len = dv.getUint16(x + 2, true);
      if (id === 0x0001) {
        let q = x + 4;
        if (size === 0xffffffff) { size = Number(dv.getBigUint64(q, true)); q += 8; }
        if (dv.getUint32(p + 24, true) === 0xffffffff) q += 8; // uncompressed size (same as size when stored)
        if (local === 0xffffffff) local = Number(dv.getBigUint64(q, true));
      }
      x += 4 + len;
    }
    if (method !== 0) fail(file, `zip entry ${name} is compressed (method ${method}); torch.save writes stored entries`);
    if (local + 30 > buf.byteLength || dv.getUint32(local, true) !== 0x04034b50) fail(file, `bad local header for ${name}`);
    const dataStart = local + 30 + dv.getUint16(local + 26, true) + dv.getUint16(local + 28, true);
    if (dataStart + size > buf.byteLength) fail(file, `zip entry ${name} runs past the end of the file (truncated?)`);
    out.set(name, { name, dataStart, size });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}

function materialize(t: TensorRef, storageBytes: Uint8Array, name: string, file: string): Tensor {
  const es = t.storage.elementSize;
  const off = t.offset + t.storage.viewOffset;
  const numel = t.shape.reduce((a, d) => a * d, 1);
  let contiguous = true;
  let expect = 1;
  for (let d = t.shape.length - 1; d >= 0; d--) {
    if (t.shape[d]! !== 1 && t.stride[d]! !== expect) contiguous = false;
    expect *= t.shape[d]!;
  }
  let maxIndex = off;
  for (let d = 0; d < t.shape.length; d++) if (t.shape[d]! > 0) maxIndex += (t.shape[d]! - 1) * t.stride[d]!;
  if (numel > 0 && (off < 0 || (maxIndex + 1) * es > storageBytes.byteLength)) {
    fail(file, `tensor ${name} reaches past its storage (${storageBytes.byteLength} bytes)`);
  }
  if (contiguous || numel === 0) {
    return fromBuffer(storageBytes.subarray(off * es, (off + numel) * es), t.shape, t.storage.dtype);
  }
  // Strided views (rare in state dicts): gather element by element into a dense buffer. A corrupt size with
  // zero strides could ask for gigabytes from a tiny storage; real views are never much larger than it.
  if (numel * es > 4 * storageBytes.byteLength + (1 << 20)) fail(file, `tensor ${name} is implausibly large for its storage`);
  const out = new Uint8Array(numel * es);
  const idx = new Array<number>(t.shape.length).fill(0);
  for (let i = 0; i < numel; i++) {
    let src = off;
    for (let d = 0; d < idx.length; d++) src += idx[d]! * t.stride[d]!;
    out.set(storageBytes.subarray(src * es, src * es + es), i * es);
    for (let d = idx.length - 1; d >= 0; d--) {
      if (++idx[d]! < t.shape[d]!) break;
      idx[d] = 0;
    }
  }
  return fromBuffer(out, t.shape, t.storage.dtype);
}

function collect(root: unknown, file: string): Map<string, TensorRef> {
  if (!(root instanceof Map)) fail(file, 'the pickled object is not a dict (expected a state dict)');
  const out = new Map<string, TensorRef>();
  for (const [k, v] of root) {
    if (typeof k !== 'string') fail(file, 'state dict has a non-string key');
    if (!(v instanceof TensorRef)) fail(file, `state dict entry ${k} is not a tensor`);
    out.set(k, v);
  }
  return out;
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

/** Reads a torch.save'd state dict ({name: tensor}, OrderedDict or dict), zip or legacy format. */
export function readTorchBin(file: string): Map<string, Tensor> {
  assertNotPointer(file);
  let buf: Uint8Array;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new DrhardInputError(`cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { file });
  }
  return parseTorchBin(buf, file);
}

export function parseTorchBin(buf: Uint8Array, file = '<buffer>'): Map<string, Tensor> {
  if (buf.byteLength < 4) fail(file, 'file too short');
  const isZip = buf[0] === 0x50 && buf[1] === 0x4b && buf[2] === 0x03 && buf[3] === 0x04;
  const out = new Map<string, Tensor>();
  try {
    if (isZip) {
      const zip = readZip(buf, file);
      const pkl = [...zip.keys()].find((n) => n.endsWith('/data.pkl') || n === 'data.pkl') ?? fail(file, 'no data.pkl in the archive');
      const prefix = pkl.slice(0, pkl.length - 'data.pkl'.length);
      const bo = zip.get(`${prefix}byteorder`);
      if (bo && new TextDecoder().decode(buf.subarray(bo.dataStart, bo.dataStart + bo.size)) !== 'little') {
        fail(file, 'big-endian checkpoints are not supported');
      }
      const e = zip.get(pkl)!;
      const { value } = unpickle(buf.subarray(e.dataStart, e.dataStart + e.size), 0, file, (pid) => storageFromPid(pid, file));
      for (const [name, t] of collect(value, file)) {
        const se = zip.get(`${prefix}data/${t.storage.key}`) ?? fail(file, `storage ${t.storage.key} of ${name} is missing`);
        out.set(name, materialize(t, buf.subarray(se.dataStart, se.dataStart + se.size), name, file));
      }
      return out;
    }
    // Legacy: magic, protocol, sys info, the object, the storage key list, then each storage as
    // [u64 numel][bytes] in key-list order.
    let pos = 0;
    const next = (): unknown => {
      const r = unpickle(buf, pos, file, (pid) => storageFromPid(pid, file));
      pos = r.end;
      return r.value;
    };
    const magic = next();
    if (magic !== Number(LEGACY_MAGIC) && magic !== LEGACY_MAGIC) fail(file, 'not a torch.save file (no zip header, no legacy magic)');
    next(); // protocol version
    next(); // sys info
    const root = next();
    const keys = next();
    if (!Array.isArray(keys)) fail(file, 'legacy storage key list missing');
    const refs = collect(root, file);
    const dtypeOf = new Map<string, number>();
    for (const t of refs.values()) dtypeOf.set(t.storage.key, t.storage.elementSize);
    const storages = new Map<string, Uint8Array>();
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    for (const k of keys) {
      const key = String(k);
      if (pos + 8 > buf.byteLength) fail(file, 'storage data ends early (truncated file?)');
      const numel = Number(dv.getBigInt64(pos, true));
      pos += 8;
      const es = dtypeOf.get(key) ?? fail(file, `storage ${key} has no tensor`);
      if (numel < 0 || pos + numel * es > buf.byteLength) fail(file, 'storage data ends early (truncated file?)');
      storages.set(key, buf.subarray(pos, pos + numel * es));
      pos += numel * es;
    }
    for (const [name, t] of refs) {
      out.set(name, materialize(t, storages.get(t.storage.key) ?? fail(file, `storage of ${name} missing`), name, file));
    }
    return out;
  } catch (e) {
    for (const t of out.values()) t.dispose();
    if (e instanceof DrhardInputError) throw e;
    throw new DrhardInputError(`cannot read torch.save file: ${(e as Error).message}`, { file });
  }
}
