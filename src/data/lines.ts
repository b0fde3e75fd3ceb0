// Line scanning for TREC-style text files: chunked byte streaming with 1-based line numbers, whitespace field
// splitting as trec_eval does it, and strict number parsing whose errors name file:line:field.
import * as fs from 'node:fs';
import { DrhardInputError } from '../util/errors.ts';
import { assertNotPointer } from '../util/pointer.ts';

const CHUNK_BYTES = 1 << 22;

/**
 * Receives one physical line as bytes `buf[start, end)` (no '\n', no trailing '\r'). `latin1` is `buf` decoded
 * byte-for-byte, so for ASCII lines `latin1.slice(start, end)` is the line text without a per-line decode. Neither
 * may be kept after the call: both are reused for the next chunk.
 */
export type ByteLineSink = (buf: Buffer, latin1: string, start: number, end: number, lineNo: number) => void;

function scanByteSource(read: (buf: Buffer, off: number, len: number) => number, sink: ByteLineSink): void {
  let buf = Buffer.allocUnsafe(CHUNK_BYTES);
  let filled = 0;
  let lineNo = 0;
  let first = true;
  let eof = false;
  while (!eof) {
    const n = read(buf, filled, buf.length - filled);
    if (n === 0) eof = true;
    filled += n;
    let pos = 0;
    if (first) {
      if (filled < 3 && !eof) continue;
      first = false;
      if (filled >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) pos = 3;
    }
    const view = buf.subarray(0, filled);
    const latin1 = view.toString('latin1');
    for (;;) {
      let nl = view.indexOf(10, pos);
      if (nl < 0) {
        if (eof && pos < filled) nl = filled;
        else break;
      }
      const end = nl > pos && view[nl - 1] === 13 ? nl - 1 : nl;
      sink(view, latin1, pos, end, ++lineNo);
      pos = nl + 1;
    }
    if (pos >= filled) filled = 0;
    else if (pos === 0 && filled === buf.length) {
      // one line longer than the buffer: grow rather than split it
      const bigger = Buffer.allocUnsafe(buf.length * 2);
      buf.copy(bigger, 0, 0, filled);
      buf = bigger;
    } else {
      buf.copy(buf, 0, pos, filled);
      filled -= pos;
    }
  }
}

/** Streams `file` in fixed-size chunks (memory bounded by the chunk and the longest line); strips a UTF-8 BOM. */
export function scanFileLines(file: string, sink: ByteLineSink): void {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw new DrhardInputError(`cannot open: ${(e as Error).message}`, { file });
  }
  try {
    assertNotPointer(file, fd);
    scanByteSource((buf, off, len) => fs.readSync(fd, buf, off, len, null), sink);
  } finally {
    fs.closeSync(fd);
  }
}

/** `scanFileLines` over text held in memory. */
export function scanTextLines(text: string, sink: ByteLineSink): void {
  const src = Buffer.from(text, 'utf8');
  let at = 0;
  scanByteSource((buf, off, len) => {
    const n = Math.min(len, src.length - at);
    src.copy(buf, off, at, at + n);
    at += n;
    return n;
  }, sink);
}

/** Calls `onLine(line, lineNo)` for each physical line of `file` (UTF-8, 1-based numbers). */
export function forEachLine(file: string, onLine: (line: string, lineNo: number) => void): void {
  scanFileLines(file, (buf, _l, s, e, n) => onLine(buf.toString('utf8', s, e), n));
}

/** Calls `onLine` for each line of an in-memory text, numbered like `forEachLine`. */
export function forEachLineOfText(text: string, onLine: (line: string, lineNo: number) => void): void {
  scanTextLines(text, (buf, _l, s, e, n) => onLine(buf.toString('utf8', s, e), n));
}

export function isSpace(c: number): boolean {
  // C isspace(): space, \t, \n, \v, \f, \r
  return c === 32 || (c >= 9 && c <= 13);
}

/**
 * Splits on runs of whitespace into `out` (reused to avoid per-line allocation); returns the field count.
 * Blank lines return 0. Stops after `max + 1` fields since callers only need to know "too many".
 */
export function splitFields(line: string, out: string[], max: number): number {
  let n = 0;
  let i = 0;
  const len = line.length;
  while (i < len) {
    while (i < len && isSpace(line.charCodeAt(i))) i++;
    if (i >= len) break;
    const start = i;
    while (i < len && !isSpace(line.charCodeAt(i))) i++;
    out[n++] = line.slice(start, i);
    if (n > max) break;
  }
  return n;
}

/** True for lines trec_eval's run reader skips: empty, whitespace-only, or '#' as the first non-blank character. */
export function isSkippable(line: string): boolean {
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (!isSpace(c)) return c === 35;
  }
  return true;
}

const INT_RE = /^[+-]?\d+$/;
const FLOAT_RE = /^[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|inf|infinity|Infinity)$/i;

/** Parses a score strictly (trec_eval's atof would turn garbage into 0); ±inf allowed, NaN never. */
export function parseScore(text: string, where: { file: string; line: number; field: string }): number {
  // Number() alone would accept '', hex, binary and 'Infinity' spellings, so the fast path first checks that only
  // decimal-float characters occur.
  let plain = text.length > 0;
  for (let i = 0; plain && i < text.length; i++) {
    const c = text.charCodeAt(i);
    plain = (c >= 48 && c <= 57) || c === 46 || c === 45 || c === 43 || c === 101 || c === 69;
  }
  if (plain) {
    const v = Number(text);
    if (!Number.isNaN(v)) return v;
  }
  if (FLOAT_RE.test(text)) {
    const lower = text.toLowerCase();
    if (lower.includes('inf')) return lower.startsWith('-') ? -Infinity : Infinity;
    return Number(text);
  }
  throw new DrhardInputError(`not a number: ${JSON.stringify(text)}`, where);
}

export function parseIntStrict(text: string, where: { file: string; line: number; field: string }): number {
  if (!INT_RE.test(text)) throw new DrhardInputError(`not an integer: ${JSON.stringify(text)}`, where);
  const v = Number(text);
  if (!Number.isSafeInteger(v)) throw new DrhardInputError(`integer out of range: ${text}`, where);
  return v;
}
