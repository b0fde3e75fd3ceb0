// Negatives files: query offset → ranked negative doc offsets, as JSON lines (numeric keys) or a compact binary CSR,
// with a `<file>.json` sidecar holding provenance and mining counters.
import * as fs from 'node:fs';
import { DrhardInputError } from '../util/errors.ts';
import { AtomicWriter, writeFileAtomic } from '../util/fsx.ts';
import { formatRunLine } from '../data/runwriter.ts';

/** Per-query negative lists in CSR form: query `qoffsets[i]` has `docs[start[i] … start[i+1])`, best first. */
export interface Negatives {
  qoffsets: Int32Array;
  start: Float64Array;
  docs: Int32Array;
}

/** jsonl and bin hold offsets; tsv holds the dataset's original ids (`qid<TAB>docid<TAB>rank`, for tools and for
 * readers that key by id). */
export type NegativesFormat = 'jsonl' | 'bin' | 'tsv';

const MAGIC = 'DRNEG001';

/** The list of query `qoffset` (empty when absent). Lookup is by number: no string keys (DRhard issue #17). */
export function negativesOf(n: Negatives, qoffset: number): Int32Array {
  let lo = 0;
  let hi = n.qoffsets.length - 1;
  // qoffsets are strictly increasing (writers sort them), so binary search.
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const v = n.qoffsets[mid] as number;
    if (v === qoffset) return n.docs.subarray(n.start[mid] as number, n.start[mid + 1] as number);
    if (v < qoffset) lo = mid + 1;
    else hi = mid - 1;
  }
  return new Int32Array(0);
}

/** As a Map (for callers that iterate). */
export function negativesToMap(n: Negatives): Map<number, Int32Array> {
  const m = new Map<number, Int32Array>();
  n.qoffsets.forEach((q, i) => m.set(q, n.docs.subarray(n.start[i] as number, n.start[i + 1] as number)));
  return m;
}

function checkSorted(n: Negatives): void {
  for (let i = 1; i < n.qoffsets.length; i++) {
    if ((n.qoffsets[i] as number) <= (n.qoffsets[i - 1] as number)) throw new Error('negatives: query offsets must be strictly increasing');
  }
}

/**
 * Writes negatives atomically. 'jsonl': one `{"qoffset": 12, "negatives": [..]}` per line in query order.
 * 'tsv': `qid<TAB>docid<TAB>rank` lines with original ids (`ids` maps offsets to them).
 * 'bin': magic "DRNEG001", uint32 nq, uint32 reserved, int32 qoffsets[nq], float64 start[nq+1], int32 docs[…],
 * little-endian. `meta` (provenance, counters) goes to `<file>.json`.
 */
export function writeNegatives(
  file: string,
  n: Negatives,
  format: NegativesFormat,
  meta: Record<string, unknown> = {},
  ids?: { qid: (q: number) => string; docid: (d: number) => string },
): void {
  checkSorted(n);
  if (format === 'tsv' && ids === undefined) throw new DrhardInputError('the tsv negatives format needs the dataset id maps');
  const w = new AtomicWriter(file);
  try {
    if (format !== 'bin') {
      // One text block per query, written 4096 queries at a time.
      const block = (q: number, list: Int32Array): string => {
        if (format === 'jsonl') return `{"qoffset":${q},"negatives":[${list.join(',')}]}\n`;
        const m = ids as NonNullable<typeof ids>; // checked above
        const qid = m.qid(q);
        // The MS MARCO run line of the one run writer; the mined order is the ranking, so no re-sort here.
        return Array.from(list, (d, r) => formatRunLine('msmarco', qid, m.docid(d), r + 1, 0, '')).join('');
      };
      let parts: string[] = [];
      n.qoffsets.forEach((q, i) => {
        parts.push(block(q, n.docs.subarray(n.start[i] as number, n.start[i + 1] as number)));
        if (parts.length >= 4096) {
          w.write(parts.join(''));
          parts = [];
        }
      });
      w.write(parts.join(''));
    } else {
      const head = Buffer.alloc(16);
      head.write(MAGIC, 0, 'latin1');
      head.writeUInt32LE(n.qoffsets.length, 8);
      w.write(head);
      for (const a of [n.qoffsets, n.start, n.docs]) w.write(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    }
    w.commit();
  } catch (e) {
    w.abort();
    throw e;
  }
  writeFileAtomic(`${file}.json`, `${JSON.stringify({ format: `drhard-negatives-${format}`, queries: n.qoffsets.length, negatives: n.docs.length, ...meta }, null, 2)}\n`);
}

/**
 * Reads a negatives file written by writeNegatives (format detected from its first bytes), or DRhard's hard.json
 * (`{"<qoffset>": [doc offsets]}`). `bounds` checks offsets against the split and corpus sizes.
 */
export function readNegatives(file: string, bounds: { queries?: number; docs?: number } = {}): Negatives {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new DrhardInputError(`cannot read negatives (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { file });
  }
  let out: Negatives;
  if (buf.length >= 16 && buf.toString('latin1', 0, 8) === MAGIC) out = readBin(file, buf);
  else {
    const text = buf.toString('utf8');
    const first = text.trimStart();
    if (first.startsWith('{') && !/^\{"qoffset":/.test(first)) out = readHardJson(file, text);
    else out = readJsonl(file, text);
  }
  const nq = bounds.queries ?? Infinity;
  const nd = bounds.docs ?? Infinity;
  out.qoffsets.forEach((q) => {
    if (q < 0 || q >= nq) throw new DrhardInputError(`query offset ${q} is not in [0, ${nq})`, { file });
  });
  out.docs.forEach((d) => {
    if (d < 0 || d >= nd) throw new DrhardInputError(`doc offset ${d} is not in [0, ${nd})`, { file });
  });
  return out;
}

function readBin(file: string, buf: Buffer): Negatives {
  const nq = buf.readUInt32LE(8);
  const qBytes = 4 * nq;
  const sBytes = 8 * (nq + 1);
  if (buf.length < 16 + qBytes + sBytes) throw new DrhardInputError(`truncated: ${buf.length} bytes for ${nq} queries`, { file });
  const copy = (off: number, bytes: number): ArrayBuffer => {
    const u = new Uint8Array(bytes);
    u.set(buf.subarray(off, off + bytes));
    return u.buffer;
  };
  const qoffsets = new Int32Array(copy(16, qBytes));
  const start = new Float64Array(copy(16 + qBytes, sBytes));
  const total = start[nq] as number;
  const dOff = 16 + qBytes + sBytes;
  if (buf.length !== dOff + 4 * total) throw new DrhardInputError(`expected ${dOff + 4 * total} bytes, found ${buf.length}: truncated or corrupt`, { file });
  for (let i = 0; i < nq; i++) {
    if (!((start[i + 1] as number) >= (start[i] as number))) throw new DrhardInputError(`corrupt list bounds at query ${i}`, { file });
  }
  const out = { qoffsets, start, docs: new Int32Array(copy(dOff, 4 * total)) };
  try {
    checkSorted(out);
  } catch (e) {
    throw new DrhardInputError((e as Error).message, { file });
  }
  return out;
}

function fromLists(file: string, lists: Array<[number, number[]]>): Negatives {
  lists.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < lists.length; i++) {
    if ((lists[i] as [number, number[]])[0] === (lists[i - 1] as [number, number[]])[0]) throw new DrhardInputError(`query offset ${(lists[i] as [number, number[]])[0]} appears twice`, { file });
  }
  const start = new Float64Array(lists.length + 1);
  lists.forEach(([, l], i) => (start[i + 1] = (start[i] as number) + l.length));
  const docs = new Int32Array(start[lists.length] as number);
  lists.forEach(([, l], i) => docs.set(l, start[i] as number));
  return { qoffsets: Int32Array.from(lists, (x) => x[0]), start, docs };
}

const isOffset = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x < 2 ** 31;

function readJsonl(file: string, text: string): Negatives {
  const lists: Array<[number, number[]]> = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch (e) {
      throw new DrhardInputError(`invalid JSON (${(e as Error).message})`, { file, line: i + 1 });
    }
    const r = rec as { qoffset?: unknown; negatives?: unknown };
    if (!isOffset(r.qoffset)) throw new DrhardInputError('expected a non-negative integer', { file, line: i + 1, field: 'qoffset' });
    if (!Array.isArray(r.negatives) || !r.negatives.every(isOffset)) {
      throw new DrhardInputError('expected an array of non-negative integer doc offsets', { file, line: i + 1, field: 'negatives' });
    }
    lists.push([r.qoffset, r.negatives as number[]]);
  });
  return fromLists(file, lists);
}

function readHardJson(file: string, text: string): Negatives {
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new DrhardInputError(`invalid JSON (${(e as Error).message})`, { file });
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new DrhardInputError('expected {"<query offset>": [doc offsets]}', { file });
  const lists: Array<[number, number[]]> = [];
  for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
    // JSON object keys are strings; DRhard then looked them up with ints (issue #17). Parse them as numbers here.
    if (!/^(0|[1-9]\d*)$/.test(k)) throw new DrhardInputError(`key ${JSON.stringify(k)} is not a query offset`, { file, field: k });
    if (!Array.isArray(v) || !v.every(isOffset)) throw new DrhardInputError('expected an array of doc offsets', { file, field: k });
    lists.push([Number(k), v as number[]]);
  }
  return fromLists(file, lists);
}
