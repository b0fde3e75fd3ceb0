// Streams a text file (plain or .gz) as byte chunks cut at line ends, numbering lines and hashing the raw bytes.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { DrhardInputError } from '../util/errors.ts';
import { assertNotPointer } from '../util/pointer.ts';

/** A run of whole lines. `firstLine` is the 1-based number of its first line in the file. */
export interface LineChunk {
  buf: Uint8Array;
  firstLine: number;
  lineCount: number;
  /** Raw (compressed, for .gz) bytes of the file consumed so far: for progress. */
  rawBytes: number;
}

export interface ChunkSourceResult {
  sha256: string;
  /** Raw file size in bytes. */
  bytes: number;
  lines: number;
}

const NL = 10;

function countLines(buf: Uint8Array, start: number, end: number): number {
  let n = 0;
  let i = buf.indexOf(NL, start);
  while (i >= 0 && i < end) {
    n++;
    i = buf.indexOf(NL, i + 1);
  }
  return n;
}

/**
 * Yields `file` as chunks of about `chunkBytes` (a line longer than that makes a bigger chunk), then returns the
 * raw file's sha256. A UTF-8 BOM at the start is dropped. The last line may lack its '\n'. Memory stays bounded by
 * the chunk size and the longest line.
 */
export async function* readLineChunks(file: string, chunkBytes = 1 << 20): AsyncGenerator<LineChunk, ChunkSourceResult> {
  let raw: fs.ReadStream;
  try {
    fs.accessSync(file, fs.constants.R_OK);
    assertNotPointer(file);
    raw = fs.createReadStream(file, { highWaterMark: 1 << 20 });
  } catch (e) {
    throw new DrhardInputError(`cannot read: ${(e as Error).message}`, { file });
  }
  const hash = createHash('sha256');
  let rawBytes = 0;
  const gz = file.endsWith('.gz');
  let stream: NodeJS.ReadableStream = raw;
  if (gz) {
    // pipe() reads `raw` through 'data' events, so a second listener sees every compressed byte exactly once.
    raw.on('data', (b) => {
      const buf = b as Buffer;
      hash.update(buf);
      rawBytes += buf.byteLength;
    });
    const gunzip = zlib.createGunzip();
    raw.on('error', (e) => gunzip.destroy(e));
    stream = raw.pipe(gunzip);
  }

  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let line = 1;
  let first = true;
  try {
    for await (const part of stream) {
      let b = part as Buffer;
      if (!gz) {
        hash.update(b);
        rawBytes += b.byteLength;
      }
      if (first) {
        first = false;
        if (b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) b = b.subarray(3);
      }
      pending.push(b);
      pendingBytes += b.length;
      if (pendingBytes < chunkBytes) continue;
      const all = pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending, pendingBytes);
      const cut = all.lastIndexOf(NL);
      if (cut < 0) {
        pending = [all];
        continue;
      }
      const out = all.subarray(0, cut + 1);
      const n = countLines(out, 0, out.length);
      yield { buf: out, firstLine: line, lineCount: n, rawBytes };
      line += n;
      const rest = all.subarray(cut + 1);
      pending = rest.length > 0 ? [rest] : [];
      pendingBytes = rest.length;
    }
  } catch (e) {
    if (e instanceof DrhardInputError) throw e;
    const msg = (e as Error).message;
    throw new DrhardInputError(gz ? `corrupt or truncated gzip data: ${msg}` : `read failed: ${msg}`, { file, line });
  }
  if (pendingBytes > 0) {
    const all = Buffer.concat(pending, pendingBytes);
    const n = countLines(all, 0, all.length) + (all[all.length - 1] === NL ? 0 : 1);
    yield { buf: all, firstLine: line, lineCount: n, rawBytes };
    line += n;
  }
  return { sha256: hash.digest('hex'), bytes: rawBytes, lines: line - 1 };
}

/** Raw size of a file for progress totals (0 if it cannot be stat'ed; the reader reports the real error). */
export function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}
