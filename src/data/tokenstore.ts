// On-disk token store: int32 token ids (concatenated rows), int32 lengths, int64 row offsets; read with positioned I/O.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DrhardFsError, DrhardInputError } from '../util/errors.ts';
import { closeChecked, fsyncChecked, openChecked, writeAllSync } from '../util/fsx.ts';

/**
 * Rows of token ids (special tokens included), row index = offset. Files `<name>.tokens.i32` (all rows back to back),
 * `<name>.lengths.i32` ([N]) and `<name>.offsets.i64` ([N+1], in tokens), little-endian, so numpy can memmap them:
 * `np.memmap(f, dtype='<i4')`. Only lengths and offsets are held in memory; token rows are read on demand.
 */
export interface TokenStore {
  count: number;
  /** Max length the rows were truncated to at preprocessing (rows may be shorter). */
  maxLength: number;
  length(i: number): number;
  /** Token ids of row i (a fresh array). */
  get(i: number): Int32Array;
  /**
   * A padded batch [B, L] with DRhard's read-time truncation (dataset.SequenceDataset): a row longer than maxLen keeps
   * its first token, the next maxLen-2 tokens and its last token, so `<s> … </s>` survives re-truncation. L is the
   * longest row after truncation, or maxLen with `padToMax` (DRhard pads its first batches to full length so an
   * out-of-memory error shows early).
   */
  batch(rows: readonly number[], maxLen: number, padId: number, opts?: { padToMax?: boolean }): { ids: Int32Array; mask: Int32Array; L: number };
  close(): void;
}

export function tokenStoreFiles(dir: string, name: string): { tokens: string; lengths: string; offsets: string } {
  return {
    tokens: path.join(dir, `${name}.tokens.i32`),
    lengths: path.join(dir, `${name}.lengths.i32`),
    offsets: path.join(dir, `${name}.offsets.i64`),
  };
}

function checkLittleEndian(): void {
  if (os.endianness() !== 'LE') throw new Error('token stores are little-endian; big-endian hosts are not supported');
}

const FLUSH_BYTES = 1 << 22;

/** Appends rows to a token store; `finish()` fsyncs and closes. Files are meant to live in a temp dir until published. */
export class TokenStoreWriter {
  readonly files: { tokens: string; lengths: string; offsets: string };
  private readonly fds: { tokens: number; lengths: number; offsets: number };
  private tokBuf = Buffer.allocUnsafe(FLUSH_BYTES);
  private tokUsed = 0;
  private lenParts: Int32Array[] = [];
  private offParts: BigInt64Array[] = [];
  private lenPending = 0;
  private total = 0;
  private rows = 0;
  private maxSeen = 0;

  constructor(dir: string, name: string) {
    checkLittleEndian();
    this.files = tokenStoreFiles(dir, name);
    this.fds = {
      tokens: openChecked(this.files.tokens, 'w'),
      lengths: openChecked(this.files.lengths, 'w'),
      offsets: openChecked(this.files.offsets, 'w'),
    };
    this.offParts.push(BigInt64Array.of(0n));
  }

  get count(): number {
    return this.rows;
  }
  get totalTokens(): number {
    return this.total;
  }
  get longest(): number {
    return this.maxSeen;
  }

  /** Appends `n` rows packed in `ids` with their `lengths` (as DrTokenizer.encodeBatch returns them). */
  appendPacked(ids: Int32Array, lengths: Int32Array, keep?: (row: number) => boolean): void {
    let o = 0;
    const lens: number[] = [];
    for (let r = 0; r < lengths.length; r++) {
      const n = lengths[r] as number;
      if (keep === undefined || keep(r)) {
        this.writeTokens(ids.subarray(o, o + n));
        lens.push(n);
      }
      o += n;
    }
    if (lens.length === 0) return;
    const L = Int32Array.from(lens);
    const off = new BigInt64Array(L.length);
    for (let i = 0; i < L.length; i++) {
      const n = L[i] as number;
      this.total += n;
      if (n > this.maxSeen) this.maxSeen = n;
      off[i] = BigInt(this.total);
    }
    this.rows += L.length;
    this.lenParts.push(L);
    this.offParts.push(off);
    this.lenPending += L.length;
    if (this.lenPending >= 1 << 18) this.flushIndex();
  }

  private writeTokens(row: Int32Array): void {
    const bytes = row.byteLength;
    if (this.tokUsed + bytes > this.tokBuf.length) {
      this.flushTokens();
      if (bytes > this.tokBuf.length) {
        writeAllSync(this.fds.tokens, new Uint8Array(row.buffer, row.byteOffset, bytes), this.files.tokens);
        return;
      }
    }
    this.tokBuf.set(new Uint8Array(row.buffer, row.byteOffset, bytes), this.tokUsed);
    this.tokUsed += bytes;
  }

  private flushTokens(): void {
    if (this.tokUsed > 0) writeAllSync(this.fds.tokens, this.tokBuf.subarray(0, this.tokUsed), this.files.tokens);
    this.tokUsed = 0;
  }

  private flushIndex(): void {
    for (const p of this.lenParts) writeAllSync(this.fds.lengths, new Uint8Array(p.buffer, p.byteOffset, p.byteLength), this.files.lengths);
    for (const p of this.offParts) writeAllSync(this.fds.offsets, new Uint8Array(p.buffer, p.byteOffset, p.byteLength), this.files.offsets);
    this.lenParts = [];
    this.offParts = [];
    this.lenPending = 0;
  }

  finish(): void {
    this.flushTokens();
    this.flushIndex();
    const expect = { tokens: 4 * this.total, lengths: 4 * this.rows, offsets: 8 * (this.rows + 1) };
    for (const k of ['tokens', 'lengths', 'offsets'] as const) {
      fsyncChecked(this.fds[k], this.files[k]);
      closeChecked(this.fds[k], this.files[k]);
      this.fds[k] = -1;
    }
    // Sizes follow from what was appended: a file the disk did not take whole is never published.
    for (const k of ['tokens', 'lengths', 'offsets'] as const) {
      const size = fs.statSync(this.files[k]).size;
      if (size !== expect[k]) throw new DrhardFsError('verify', this.files[k], `the written file has ${size} bytes, expected ${expect[k]}`);
    }
  }

  /** Closes without syncing (the temp dir is about to be removed). */
  abort(): void {
    for (const fd of [this.fds.tokens, this.fds.lengths, this.fds.offsets]) {
      if (fd < 0) continue;
      try {
        fs.closeSync(fd);
      } catch {
        /* already closed */
      }
    }
  }
}

function readExact(fd: number, target: Uint8Array, position: number, file: string): void {
  let got = 0;
  while (got < target.byteLength) {
    const n = fs.readSync(fd, target, got, target.byteLength - got, position + got);
    if (n === 0) throw new DrhardInputError(`unexpected end of file at byte ${position + got}`, { file });
    got += n;
  }
}

class FileTokenStore implements TokenStore {
  readonly count: number;
  readonly maxLength: number;
  private readonly lengths: Int32Array;
  private readonly offsets: Float64Array;
  private fd: number;
  private readonly tokensFile: string;

  constructor(dir: string, name: string, count: number, maxLength: number) {
    checkLittleEndian();
    const f = tokenStoreFiles(dir, name);
    this.tokensFile = f.tokens;
    this.count = count;
    this.maxLength = maxLength;
    const size = (file: string): number => {
      try {
        return fs.statSync(file).size;
      } catch {
        throw new DrhardInputError('missing token store file', { file });
      }
    };
    if (size(f.lengths) !== 4 * count) throw new DrhardInputError(`expected ${4 * count} bytes for ${count} rows, found ${size(f.lengths)}`, { file: f.lengths });
    if (size(f.offsets) !== 8 * (count + 1)) {
      throw new DrhardInputError(`expected ${8 * (count + 1)} bytes for ${count} rows, found ${size(f.offsets)}`, { file: f.offsets });
    }
    this.lengths = new Int32Array(count);
    const lfd = fs.openSync(f.lengths, 'r');
    try {
      readExact(lfd, new Uint8Array(this.lengths.buffer), 0, f.lengths);
    } finally {
      fs.closeSync(lfd);
    }
    // Offsets are read in slices and converted to float64 (exact below 2^53) so no BigInt64 copy of the whole array exists.
    this.offsets = new Float64Array(count + 1);
    const ofd = fs.openSync(f.offsets, 'r');
    try {
      const SLICE = 1 << 16;
      const tmp = new BigInt64Array(SLICE);
      for (let start = 0; start <= count; start += SLICE) {
        const n = Math.min(SLICE, count + 1 - start);
        readExact(ofd, new Uint8Array(tmp.buffer, 0, n * 8), start * 8, f.offsets);
        for (let i = 0; i < n; i++) this.offsets[start + i] = Number(tmp[i] as bigint);
      }
    } finally {
      fs.closeSync(ofd);
    }
    if (this.offsets[0] !== 0) throw new DrhardInputError('first offset is not 0', { file: f.offsets });
    for (let i = 0; i < count; i++) {
      const n = this.lengths[i] as number;
      if (n < 0 || (this.offsets[i + 1] as number) - (this.offsets[i] as number) !== n) {
        throw new DrhardInputError(`row ${i}: offsets and lengths disagree`, { file: f.offsets });
      }
    }
    const tokBytes = size(f.tokens);
    if (tokBytes !== 4 * (this.offsets[count] as number)) {
      throw new DrhardInputError(`expected ${4 * (this.offsets[count] as number)} bytes, found ${tokBytes}`, { file: f.tokens });
    }
    this.fd = fs.openSync(f.tokens, 'r');
  }

  private check(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.count) throw new RangeError(`row ${i} out of range [0, ${this.count})`);
    if (this.fd < 0) throw new Error('token store is closed');
  }

  length(i: number): number {
    this.check(i);
    return this.lengths[i] as number;
  }

  get(i: number): Int32Array {
    this.check(i);
    const out = new Int32Array(this.lengths[i] as number);
    readExact(this.fd, new Uint8Array(out.buffer), 4 * (this.offsets[i] as number), this.tokensFile);
    return out;
  }

  batch(rows: readonly number[], maxLen: number, padId: number, opts: { padToMax?: boolean } = {}): { ids: Int32Array; mask: Int32Array; L: number } {
    if (!Number.isInteger(maxLen) || maxLen < 2) throw new RangeError(`maxLen must be an integer >= 2, got ${maxLen}`);
    const kept = rows.map((r) => {
      this.check(r);
      const n = this.lengths[r] as number;
      // DRhard: seq = min(max-1, n-1); [ids[0]] + ids[1:seq] + [ids[-1]], i.e. min(max, n) tokens, but 2 when n == 1.
      if (n === 0) return 0;
      const seq = Math.min(maxLen - 1, n - 1);
      return 1 + Math.max(0, seq - 1) + 1;
    });
    let L = 0;
    for (const k of kept) if (k > L) L = k;
    if (opts.padToMax === true) L = maxLen;
    const B = rows.length;
    const ids = new Int32Array(B * L).fill(padId);
    const mask = new Int32Array(B * L);
    for (let b = 0; b < B; b++) {
      const r = rows[b] as number;
      const n = this.lengths[r] as number;
      const k = kept[b] as number;
      if (k === 0) continue;
      const base = b * L;
      const rowStart = 4 * (this.offsets[r] as number);
      const view = new Uint8Array(ids.buffer, base * 4, (k - 1) * 4);
      // First k-1 tokens in one read, then the row's last token.
      if (k - 1 > 0) readExact(this.fd, view, rowStart, this.tokensFile);
      const last = new Uint8Array(ids.buffer, (base + k - 1) * 4, 4);
      readExact(this.fd, last, rowStart + 4 * (n - 1), this.tokensFile);
      mask.fill(1, base, base + k);
    }
    return { ids, mask, L };
  }

  close(): void {
    if (this.fd >= 0) {
      fs.closeSync(this.fd);
      this.fd = -1;
    }
  }
}

/** Opens `<dir>/<name>.*` written by TokenStoreWriter; sizes and offsets are validated against `count`. */
export function openTokenStore(dir: string, name: string, count: number, maxLength: number): TokenStore {
  return new FileTokenStore(dir, name, count, maxLength);
}
