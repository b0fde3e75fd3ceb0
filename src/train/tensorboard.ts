// TensorBoard event files written by hand (no npm package writes them offline): TFRecord framing + Event protobuf.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { DrhardInputError } from '../util/errors.ts';
import { fsyncChecked, writeAllSync } from '../util/fsx.ts';

// ---- CRC32C (Castagnoli), reflected polynomial 0x82f63b78 ----
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** CRC32C of `data`; pass a previous result as `crc` to continue over several chunks. */
export function crc32c(data: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < data.length; i++) c = (CRC_TABLE[(c ^ (data[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return ~c >>> 0;
}

/** TFRecord's masked CRC: rotate right by 15 and add a constant, so CRCs of CRCs do not look like data. */
export function maskCrc(c: number): number {
  return (((c >>> 15) | (c << 17)) + 0xa282ead8) >>> 0;
}

/** One TFRecord: u64 LE length, masked crc32c(length bytes), data, masked crc32c(data). */
export function frameRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + 4 + data.length + 4);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(data.length), true);
  dv.setUint32(8, maskCrc(crc32c(out.subarray(0, 8))), true);
  out.set(data, 12);
  dv.setUint32(12 + data.length, maskCrc(crc32c(data)), true);
  return out;
}

// ---- Event protobuf (tensorboard/compat/proto/event.proto, summary.proto) ----
export const FILE_VERSION = 'brain.Event:2';

/** SessionLog.SessionStatus values. */
export const SessionStatus = { UNSPECIFIED: 0, START: 1, STOP: 2, CHECKPOINT: 3 } as const;

export interface TbSummaryValue {
  tag: string;
  simpleValue?: number;
}

export interface TbSessionLog {
  status: number;
  checkpointPath?: string;
  msg?: string;
}

/** The Event fields this module writes and reads; other fields are skipped on read. */
export interface TbEvent {
  wallTime: number;
  step: number;
  fileVersion?: string;
  summary?: TbSummaryValue[];
  sessionLog?: TbSessionLog;
}

export function encodeEvent(ev: TbEvent): Uint8Array {
  const w = new BinaryWriter();
  // proto3: scalars at their default are not written (what every protobuf library emits).
  if (ev.wallTime !== 0) w.tag(1, WireType.Bit64).double(ev.wallTime);
  if (ev.step !== 0) w.tag(2, WireType.Varint).int64(ev.step);
  if (ev.fileVersion !== undefined) w.tag(3, WireType.LengthDelimited).string(ev.fileVersion);
  if (ev.summary !== undefined) {
    w.tag(5, WireType.LengthDelimited).fork();
    for (const v of ev.summary) {
      w.tag(1, WireType.LengthDelimited).fork();
      w.tag(1, WireType.LengthDelimited).string(v.tag);
      // simple_value sits in a oneof, so it is written even when 0.
      if (v.simpleValue !== undefined) w.tag(2, WireType.Bit32).float(v.simpleValue);
      w.join();
    }
    w.join();
  }
  if (ev.sessionLog !== undefined) {
    const s = ev.sessionLog;
    w.tag(7, WireType.LengthDelimited).fork();
    if (s.status !== 0) w.tag(1, WireType.Varint).int32(s.status);
    if (s.checkpointPath) w.tag(2, WireType.LengthDelimited).string(s.checkpointPath);
    if (s.msg) w.tag(3, WireType.LengthDelimited).string(s.msg);
    w.join();
  }
  return w.finish();
}

function int64ToNumber(v: bigint | string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new Error(`int64 ${String(v)} is outside the safe integer range`);
  return n;
}

function decodeValue(bytes: Uint8Array): TbSummaryValue {
  const r = new BinaryReader(bytes);
  const v: TbSummaryValue = { tag: '' };
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (no === 1 && wt === WireType.LengthDelimited) v.tag = r.string();
    else if (no === 2 && wt === WireType.Bit32) v.simpleValue = r.float();
    else r.skip(wt, no);
  }
  return v;
}

export function decodeEvent(bytes: Uint8Array): TbEvent {
  const r = new BinaryReader(bytes);
  const ev: TbEvent = { wallTime: 0, step: 0 };
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (no === 1 && wt === WireType.Bit64) ev.wallTime = r.double();
    else if (no === 2 && wt === WireType.Varint) ev.step = int64ToNumber(r.int64());
    else if (no === 3 && wt === WireType.LengthDelimited) ev.fileVersion = r.string();
    else if (no === 5 && wt === WireType.LengthDelimited) {
      const s = new BinaryReader(r.bytes());
      ev.summary ??= [];
      while (s.pos < s.len) {
        const [sno, swt] = s.tag();
        if (sno === 1 && swt === WireType.LengthDelimited) ev.summary.push(decodeValue(s.bytes()));
        else s.skip(swt, sno);
      }
    } else if (no === 7 && wt === WireType.LengthDelimited) {
      const s = new BinaryReader(r.bytes());
      const log: TbSessionLog = { status: 0 };
      while (s.pos < s.len) {
        const [sno, swt] = s.tag();
        if (sno === 1 && swt === WireType.Varint) log.status = s.int32();
        else if (sno === 2 && swt === WireType.LengthDelimited) log.checkpointPath = s.string();
        else if (sno === 3 && swt === WireType.LengthDelimited) log.msg = s.string();
        else s.skip(swt, sno);
      }
      ev.sessionLog = log;
    } else r.skip(wt, no);
  }
  return ev;
}

/**
 * Splits a TFRecord file's bytes into records, verifying both CRCs of each. Throws DrhardInputError naming
 * the byte offset on a CRC mismatch or a truncated record (unless `allowTruncatedTail`, for a file that is
 * still being written).
 */
export function readRecords(buf: Uint8Array, opts: { file?: string; allowTruncatedTail?: boolean } = {}): Uint8Array[] {
  const where = opts.file !== undefined ? { file: opts.file } : {};
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: Uint8Array[] = [];
  let off = 0;
  while (off < buf.length) {
    if (off + 12 > buf.length) {
      if (opts.allowTruncatedTail) break;
      throw new DrhardInputError(`truncated record header at byte ${off}`, where);
    }
    if (dv.getUint32(off + 8, true) !== maskCrc(crc32c(buf.subarray(off, off + 8)))) {
      throw new DrhardInputError(`record at byte ${off}: length crc mismatch`, where);
    }
    const len = dv.getBigUint64(off, true);
    if (len > BigInt(buf.length - off - 16)) {
      if (opts.allowTruncatedTail) break;
      throw new DrhardInputError(`truncated record at byte ${off} (length ${len})`, where);
    }
    const n = Number(len);
    const data = buf.subarray(off + 12, off + 12 + n);
    if (dv.getUint32(off + 12 + n, true) !== maskCrc(crc32c(data))) {
      throw new DrhardInputError(`record at byte ${off}: data crc mismatch`, where);
    }
    out.push(data);
    off += 16 + n;
  }
  return out;
}

/** All events of an event file, CRCs verified. */
export function readEvents(file: string, opts: { allowTruncatedTail?: boolean } = {}): TbEvent[] {
  const buf = fs.readFileSync(file);
  return readRecords(buf, { file, ...opts }).map((rec, i) => {
    try {
      return decodeEvent(rec);
    } catch (e) {
      throw new DrhardInputError(`record ${i}: bad Event protobuf: ${e instanceof Error ? e.message : String(e)}`, { file });
    }
  });
}

export interface SummaryWriterOptions {
  /** On resume: write SessionLog START at this step so TensorBoard discards older events with step >= it. */
  purgeStep?: number;
  /** Write buffered events to disk at least this often (seconds, default 10) and whenever maxQueue is reached. */
  flushSecs?: number;
  /** Pending events that trigger a write (default 10). */
  maxQueue?: number;
  /** Appended to the file name. */
  filenameSuffix?: string;
  /** Default os.hostname(). */
  hostname?: string;
  /** Clock in seconds (default Date.now()/1000); tests pin it for golden bytes. */
  wallTime?: () => number;
}

/**
 * Appends scalar events to `<logDir>/events.out.tfevents.<unix seconds>.<hostname>`. Writes are synchronous
 * and also flushed on process exit, so a SIGTERM handled by StopSignal or a process.exit loses nothing.
 */
export class SummaryWriter implements Disposable {
  readonly logDir: string;
  readonly file: string;
  private fd: number | null;
  private pending: Uint8Array[] = [];
  private readonly maxQueue: number;
  private readonly clock: () => number;
  private readonly timer: NodeJS.Timeout | null;
  private readonly onExit = (): void => this.flush();

  constructor(logDir: string, opts: SummaryWriterOptions = {}) {
    this.logDir = logDir;
    this.clock = opts.wallTime ?? (() => Date.now() / 1000);
    this.maxQueue = opts.maxQueue ?? 10;
    fs.mkdirSync(logDir, { recursive: true });
    const now = this.clock();
    const base = `events.out.tfevents.${Math.floor(now)}.${opts.hostname ?? os.hostname()}${opts.filenameSuffix ?? ''}`;
    // A restart within the same second must not append to (or clobber) the previous run's file.
    let fd: number | null = null;
    let file = path.join(logDir, base);
    for (let n = 0; fd === null; n++) {
      file = path.join(logDir, n === 0 ? base : `${base}.${n}`);
      try {
        fd = fs.openSync(file, 'wx');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || n > 1000) throw e;
      }
    }
    this.fd = fd;
    this.file = file;
    this.pending.push(frameRecord(encodeEvent({ wallTime: now, step: 0, fileVersion: FILE_VERSION })));
    if (opts.purgeStep !== undefined) {
      if (!Number.isSafeInteger(opts.purgeStep) || opts.purgeStep < 0) throw new RangeError(`purgeStep must be a non-negative integer`);
      this.pending.push(
        frameRecord(encodeEvent({ wallTime: now, step: opts.purgeStep, sessionLog: { status: SessionStatus.START } })),
      );
    }
    this.flush();
    const secs = opts.flushSecs ?? 10;
    this.timer = secs > 0 ? setInterval(() => this.flush(), secs * 1000) : null;
    this.timer?.unref();
    process.on('exit', this.onExit);
  }

  /** Logs `value` under `tag` at `step` (a scalar chart in TensorBoard). */
  addScalar(tag: string, value: number, step: number, wallTime?: number): void {
    if (this.fd === null) throw new Error(`SummaryWriter: ${this.file} is closed`);
    if (!Number.isSafeInteger(step) || step < 0) throw new RangeError(`addScalar(${tag}): step must be a non-negative integer, got ${step}`);
    const ev = encodeEvent({ wallTime: wallTime ?? this.clock(), step, summary: [{ tag, simpleValue: value }] });
    this.pending.push(frameRecord(ev));
    if (this.pending.length >= this.maxQueue) this.flush();
  }

  /** Writes buffered events and fsyncs the file. */
  flush(): void {
    if (this.fd === null || this.pending.length === 0) return;
    const total = this.pending.reduce((s, b) => s + b.length, 0);
    const buf = Buffer.allocUnsafe(total);
    let off = 0;
    for (const b of this.pending) {
      buf.set(b, off);
      off += b.length;
    }
    this.pending = [];
    writeAllSync(this.fd, buf, this.file);
    fsyncChecked(this.fd, this.file);
  }

  close(): void {
    if (this.fd === null) return;
    this.flush();
    fs.closeSync(this.fd);
    this.fd = null;
    if (this.timer) clearInterval(this.timer);
    process.removeListener('exit', this.onExit);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
