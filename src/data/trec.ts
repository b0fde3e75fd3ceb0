// TREC / MS MARCO qrels and run files: streaming readers with file:line errors, trec_eval ordering, atomic writers.
import * as fs from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { DrhardInputError } from '../util/errors.ts';
import { AtomicWriter } from '../util/fsx.ts';

/** qid → (docid → relevance grade). Grades are integers; negative grades mean "in pool, unjudged" (trec_eval). */
export type Qrels = Map<string, Map<string, number>>;

/** One retrieved document. Only `score` orders a ranking; a rank column in a file is never trusted. */
export interface ScoredDoc {
  docid: string;
  score: number;
}

/**
 * qid → retrieved documents, in any order. Metric code ranks them with `sortTrecOrder` (score descending, ties by
 * docid descending in byte order, as trec_eval does). Map insertion order is the file's query order.
 */
export type Run = Map<string, ScoredDoc[]>;

export type RunFormat = 'trec' | 'msmarco';

/** Optional id rewriting applied while reading (e.g. offset ids → official ids from a dataset directory). */
export interface IdMapper {
  qid?: (raw: string, where: { file: string; line: number }) => string;
  docid?: (raw: string, where: { file: string; line: number }) => string;
}

export interface ReadRunOptions {
  /** 'auto' (default) picks by the first content line: 6 fields → trec, 3 fields → msmarco. */
  format?: RunFormat | 'auto';
  ids?: IdMapper;
}

export interface ReadRunResult {
  run: Run;
  format: RunFormat;
  /** Run tag of a TREC run (first line's), or undefined for MS MARCO runs. */
  tag: string | undefined;
}

const CHUNK_BYTES = 1 << 22;

/**
 * Calls `onLine(text, lineNo)` for each physical line of `file` (1-based numbers), streaming in fixed-size chunks so
 * memory stays bounded by the longest line. Strips a UTF-8 BOM and a trailing '\r'.
 */
export function forEachLine(file: string, onLine: (line: string, lineNo: number) => void): void {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw new DrhardInputError(`cannot open: ${(e as Error).message}`, { file });
  }
  const buf = Buffer.allocUnsafe(CHUNK_BYTES);
  const decoder = new StringDecoder('utf8');
  let carry = '';
  let lineNo = 0;
  let first = true;
  try {
    for (;;) {
      const n = fs.readSync(fd, buf, 0, CHUNK_BYTES, null);
      if (n === 0) break;
      let text = carry + decoder.write(n === CHUNK_BYTES ? buf : buf.subarray(0, n));
      if (first) {
        if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
        first = false;
      }
      let pos = 0;
      for (;;) {
        const nl = text.indexOf('\n', pos);
        if (nl < 0) break;
        const end = nl > pos && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
        onLine(text.slice(pos, end), ++lineNo);
        pos = nl + 1;
      }
      carry = text.slice(pos);
    }
    const tail = carry + decoder.end();
    if (tail.length > 0) {
      let t = tail;
      if (first && t.charCodeAt(0) === 0xfeff) t = t.slice(1);
      onLine(t.charCodeAt(t.length - 1) === 13 ? t.slice(0, -1) : t, ++lineNo);
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Calls `onLine` for each line of an in-memory text, numbered like `forEachLine`. */
export function forEachLineOfText(text: string, onLine: (line: string, lineNo: number) => void): void {
  let pos = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let lineNo = 0;
  while (pos < text.length) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = text.length;
    const end = nl > pos && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
    onLine(text.slice(pos, end), ++lineNo);
    pos = nl + 1;
  }
}

function isSpace(c: number): boolean {
  // C isspace(): space, \t, \n, \v, \f, \r
  return c === 32 || (c >= 9 && c <= 13);
}

/**
 * Splits on runs of whitespace into `out` (reused to avoid per-line allocation); returns the field count.
 * Blank lines return 0. Stops after `max + 1` fields since callers only need to know "too many".
 */
function splitFields(line: string, out: string[], max: number): number {
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

/** True for lines trec_eval skips: empty, whitespace-only, or starting with '#'. */
function isSkippable(line: string): boolean {
  if (line.length === 0) return true;
  if (line.charCodeAt(0) === 35) return true;
  for (let i = 0; i < line.length; i++) if (!isSpace(line.charCodeAt(i))) return false;
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

function parseIntStrict(text: string, where: { file: string; line: number; field: string }): number {
  if (!INT_RE.test(text)) throw new DrhardInputError(`not an integer: ${JSON.stringify(text)}`, where);
  const v = Number(text);
  if (!Number.isSafeInteger(v)) throw new DrhardInputError(`integer out of range: ${text}`, where);
  return v;
}

// ---------------------------------------------------------------------------------------------------------------
// Qrels

/** Builds qrels from lines `qid iter docid rel` (exactly 4 whitespace-separated fields; MS MARCO .tsv qrels too). */
class QrelsBuilder {
  readonly qrels: Qrels = new Map();
  private fields: string[] = [];
  private lastQid = '';
  private lastMap: Map<string, number> | undefined;
  constructor(
    private readonly file: string,
    private readonly ids: IdMapper | undefined,
  ) {}
  line(text: string, lineNo: number): void {
    if (isSkippable(text)) return;
    const f = this.fields;
    const n = splitFields(text, f, 4);
    if (n !== 4) {
      throw new DrhardInputError(`expected 4 fields "qid iter docid rel", found ${n > 4 ? 'more than 4' : n}`, {
        file: this.file,
        line: lineNo,
      });
    }
    const where = { file: this.file, line: lineNo };
    const qid = this.ids?.qid ? this.ids.qid(f[0]!, where) : f[0]!;
    const docid = this.ids?.docid ? this.ids.docid(f[2]!, where) : f[2]!;
    const rel = parseIntStrict(f[3]!, { ...where, field: 'rel' });
    let m = this.lastMap;
    if (m === undefined || qid !== this.lastQid) {
      m = this.qrels.get(qid);
      if (m === undefined) {
        m = new Map();
        this.qrels.set(qid, m);
      }
      this.lastQid = qid;
      this.lastMap = m;
    }
    if (m.has(docid)) {
      throw new DrhardInputError(`duplicate judgment for query ${qid}, document ${docid}`, { ...where, field: 'docid' });
    }
    m.set(docid, rel);
  }
}

/** Reads a TREC qrels file (`qid 0 docid rel`). Blank and '#' lines are skipped; duplicates are errors. */
export function readQrels(file: string, opts: { ids?: IdMapper } = {}): Qrels {
  const b = new QrelsBuilder(file, opts.ids);
  forEachLine(file, (l, n) => b.line(l, n));
  return b.qrels;
}

/** Parses qrels text held in memory; `source` names it in errors. */
export function parseQrels(text: string, source = '<qrels>', opts: { ids?: IdMapper } = {}): Qrels {
  const b = new QrelsBuilder(source, opts.ids);
  forEachLineOfText(text, (l, n) => b.line(l, n));
  return b.qrels;
}

// ---------------------------------------------------------------------------------------------------------------
// Runs

class RunBuilder {
  readonly run: Run = new Map();
  format: RunFormat | undefined;
  tag: string | undefined;
  private fields: string[] = [];
  private lastQid = '';
  private lastList: ScoredDoc[] | undefined;
  private lastSeen: Set<string> | undefined;
  // Per-query docid sets, kept only while a query's lines may still come (they are usually contiguous).
  private seen = new Map<string, Set<string>>();
  private ranksSeen = new Map<string, Set<number>>();
  constructor(
    private readonly file: string,
    format: RunFormat | 'auto',
    private readonly ids: IdMapper | undefined,
  ) {
    this.format = format === 'auto' ? undefined : format;
  }

  line(text: string, lineNo: number): void {
    if (isSkippable(text)) return;
    const f = this.fields;
    const n = splitFields(text, f, 6);
    if (this.format === undefined) {
      if (n === 6) this.format = 'trec';
      else if (n === 3) this.format = 'msmarco';
      else {
        throw new DrhardInputError(
          `cannot detect run format: expected 6 fields (TREC "qid Q0 docid rank score tag") or 3 (MS MARCO "qid docid rank"), found ${n > 6 ? 'more than 6' : n}`,
          { file: this.file, line: lineNo },
        );
      }
    }
    let score: number;
    let rank = 0;
    if (this.format === 'trec') {
      if (n !== 6) {
        throw new DrhardInputError(
          `expected 6 fields "qid Q0 docid rank score tag", found ${n > 6 ? 'more than 6' : n}`,
          { file: this.file, line: lineNo },
        );
      }
      score = parseScore(f[4]!, { file: this.file, line: lineNo, field: 'score' });
      if (this.tag === undefined) this.tag = f[5];
    } else {
      if (n !== 3) {
        throw new DrhardInputError(`expected 3 fields "qid docid rank", found ${n > 3 ? 'more than 3' : n}`, {
          file: this.file,
          line: lineNo,
        });
      }
      rank = parseIntStrict(f[2]!, { file: this.file, line: lineNo, field: 'rank' });
      if (rank < 1) throw new DrhardInputError(`rank must be ≥ 1, got ${rank}`, { file: this.file, line: lineNo, field: 'rank' });
      // Negated rank keeps the file's order under "score descending" and cannot tie when ranks are distinct.
      score = -rank;
    }
    const where = { file: this.file, line: lineNo };
    const rawQid = f[0]!;
    const rawDoc = this.format === 'trec' ? f[2]! : f[1]!;
    const qid = this.ids?.qid ? this.ids.qid(rawQid, where) : rawQid;
    const docid = this.ids?.docid ? this.ids.docid(rawDoc, where) : rawDoc;
    let list = this.lastList;
    let seen = this.lastSeen;
    if (list === undefined || seen === undefined || qid !== this.lastQid) {
      list = this.run.get(qid);
      if (list === undefined) {
        list = [];
        this.run.set(qid, list);
        seen = new Set();
        this.seen.set(qid, seen);
      } else {
        seen = this.seen.get(qid)!;
      }
      this.lastQid = qid;
      this.lastList = list;
      this.lastSeen = seen;
    }
    const before = seen.size;
    seen.add(docid);
    if (seen.size === before) {
      throw new DrhardInputError(`duplicate document ${docid} for query ${qid}`, { ...where, field: 'docid' });
    }
    if (this.format === 'msmarco') {
      let rs = this.ranksSeen.get(qid);
      if (rs === undefined) {
        rs = new Set();
        this.ranksSeen.set(qid, rs);
      }
      if (rs.has(rank)) throw new DrhardInputError(`duplicate rank ${rank} for query ${qid}`, { ...where, field: 'rank' });
      rs.add(rank);
    }
    list.push({ docid, score });
  }
}

/**
 * Reads a run file. TREC: `qid Q0 docid rank score tag` (rank ignored, as trec_eval does). MS MARCO:
 * `qid<TAB>docid<TAB>rank`, scored -rank so the file's order holds. Duplicate docids within a query, malformed lines
 * and non-numeric scores are errors naming file:line.
 */
export function readRun(file: string, opts: ReadRunOptions = {}): ReadRunResult {
  const b = new RunBuilder(file, opts.format ?? 'auto', opts.ids);
  forEachLine(file, (l, n) => b.line(l, n));
  return { run: b.run, format: b.format ?? 'trec', tag: b.tag };
}

/** Parses run text held in memory; see `readRun`. */
export function parseRun(text: string, source = '<run>', opts: ReadRunOptions = {}): ReadRunResult {
  const b = new RunBuilder(source, opts.format ?? 'auto', opts.ids);
  forEachLineOfText(text, (l, n) => b.line(l, n));
  return { run: b.run, format: b.format ?? 'trec', tag: b.tag };
}

// ---------------------------------------------------------------------------------------------------------------
// trec_eval ordering

/**
 * C strcmp order on the UTF-8 bytes. JS `<` compares UTF-16 code units, which agrees with UTF-8 byte order except
 * between surrogates (astral characters) and U+E000..U+FFFF, so only that case takes the slow path.
 */
export function strcmpUtf8(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) {
      if (x >= 0xd800 && y >= 0xd800) {
        const xs = x <= 0xdfff;
        const ys = y <= 0xdfff;
        if (xs !== ys) return xs ? 1 : -1;
      }
      return x < y ? -1 : 1;
    }
  }
  return a.length - b.length;
}

/** trec_eval's ranking order: score descending, then docid descending (reverse strcmp). */
export function compareTrecOrder(a: ScoredDoc, b: ScoredDoc): number {
  if (a.score > b.score) return -1;
  if (a.score < b.score) return 1;
  return strcmpUtf8(b.docid, a.docid);
}

/** Sorts a query's documents in place into trec_eval's ranking order and returns the same array. */
export function sortTrecOrder(docs: ScoredDoc[]): ScoredDoc[] {
  return docs.sort(compareTrecOrder);
}

// ---------------------------------------------------------------------------------------------------------------
// Writers

function checkWritable(run: Run): void {
  for (const [qid, docs] of run) {
    if (/\s/.test(qid) || qid.length === 0) throw new DrhardInputError(`query id ${JSON.stringify(qid)} is empty or has whitespace`);
    const seen = new Set<string>();
    for (const d of docs) {
      if (/\s/.test(d.docid) || d.docid.length === 0) {
        throw new DrhardInputError(`document id ${JSON.stringify(d.docid)} (query ${qid}) is empty or has whitespace`);
      }
      if (Number.isNaN(d.score)) throw new DrhardInputError(`score is NaN for query ${qid}, document ${d.docid}`);
      if (seen.has(d.docid)) throw new DrhardInputError(`duplicate document ${d.docid} for query ${qid}`);
      seen.add(d.docid);
    }
  }
}

const WRITE_BATCH = 1 << 16;

function writeRunWith(file: string, run: Run, fmt: (qid: string, d: ScoredDoc, rank: number) => string): void {
  checkWritable(run);
  const w = new AtomicWriter(file);
  try {
    let parts: string[] = [];
    for (const [qid, docs] of run) {
      const sorted = sortTrecOrder(docs.slice());
      for (let i = 0; i < sorted.length; i++) {
        parts.push(fmt(qid, sorted[i]!, i + 1));
        if (parts.length >= WRITE_BATCH) {
          w.write(parts.join(''));
          parts = [];
        }
      }
    }
    if (parts.length > 0) w.write(parts.join(''));
    w.commit();
  } catch (e) {
    w.abort();
    throw e;
  }
}

/**
 * Writes `qid Q0 docid rank score tag` lines atomically, each query in trec_eval order with ranks 1..n. Scores are
 * printed with the shortest round-trip representation so re-reading gives identical rankings.
 */
export function writeTrecRun(file: string, run: Run, opts: { tag?: string } = {}): void {
  const tag = opts.tag ?? 'drhard';
  if (/\s/.test(tag) || tag.length === 0) throw new DrhardInputError(`run tag ${JSON.stringify(tag)} is empty or has whitespace`);
  writeRunWith(file, run, (q, d, r) => `${q} Q0 ${d.docid} ${r} ${String(d.score)} ${tag}\n`);
}

/** Writes `qid<TAB>docid<TAB>rank` lines atomically (MS MARCO / msmarco_eval.py input), ranks from trec_eval order. */
export function writeMsmarcoRun(file: string, run: Run): void {
  writeRunWith(file, run, (q, d, r) => `${q}\t${d.docid}\t${r}\n`);
}

/** Writes a qrels file `qid 0 docid rel` atomically, in map order. */
export function writeQrels(file: string, qrels: Qrels): void {
  const parts: string[] = [];
  for (const [qid, m] of qrels) for (const [docid, rel] of m) parts.push(`${qid} 0 ${docid} ${rel}\n`);
  const w = new AtomicWriter(file);
  try {
    w.write(parts.join(''));
    w.commit();
  } catch (e) {
    w.abort();
    throw e;
  }
}
