// TREC / MS MARCO qrels and run files: streaming readers with file:line errors, trec_eval ordering, atomic writers.
import * as fs from 'node:fs';
import { DrhardInputError } from '../util/errors.ts';
import { AtomicWriter } from '../util/fsx.ts';

/** qid → (docid → relevance grade). Grades are integers; negative grades mean "in pool, unjudged" (trec_eval). */
export type Qrels = Map<string, Map<string, number>>;

/** One retrieved document (convenience form; runs store columns, see Ranking). */
export interface ScoredDoc {
  docid: string;
  score: number;
}

export type Scores = number[] | Float64Array | Float32Array;

/**
 * One query's retrieved documents as parallel columns, in any order: `scores[i]` belongs to `docids[i]`. Only the
 * scores order a ranking (descending; ties by docid descending in byte order, as trec_eval does) — a rank column in
 * a file is never trusted. Columns rather than objects: a 7,000 × 1,000 run is 7M entries, and per-entry objects
 * would dominate parse time and memory. Search code can hand faiss's Float32Array scores over as they are.
 */
export interface Ranking {
  docids: string[];
  scores: Scores;
}

/** qid → ranking. Map insertion order is the file's query order (msmarco_eval.py sums in that order). */
export type Run = Map<string, Ranking>;

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

// ---------------------------------------------------------------------------------------------------------------
// Building runs in memory

/** A ranking from documents in any order. */
export function rankingFromDocs(docs: Iterable<ScoredDoc>): Ranking {
  const docids: string[] = [];
  const scores: number[] = [];
  for (const d of docs) {
    docids.push(d.docid);
    scores.push(d.score);
  }
  return { docids, scores };
}

/** A run from `{qid: [{docid, score}, ...]}` or `[[qid, docs], ...]`. */
export function runFromDocs(input: Record<string, Iterable<ScoredDoc>> | Iterable<[string, Iterable<ScoredDoc>]>): Run {
  const entries: Iterable<[string, Iterable<ScoredDoc>]> =
    Symbol.iterator in input ? (input as Iterable<[string, Iterable<ScoredDoc>]>) : Object.entries(input);
  const run: Run = new Map();
  for (const [qid, docs] of entries) run.set(qid, rankingFromDocs(docs));
  return run;
}

/** Indices of `r`'s documents in trec_eval's ranking order (score descending, then docid descending). */
export function trecOrder(r: Ranking): Int32Array {
  const { docids, scores } = r;
  if (docids.length !== scores.length) {
    throw new DrhardInputError(`ranking has ${docids.length} docids but ${scores.length} scores`);
  }
  const idx = new Int32Array(docids.length);
  for (let i = 0; i < idx.length; i++) idx[i] = i;
  idx.sort((a, b) => {
    const sa = scores[a]!;
    const sb = scores[b]!;
    if (sa > sb) return -1;
    if (sa < sb) return 1;
    return strcmpUtf8(docids[b]!, docids[a]!);
  });
  return idx;
}

/** The top `k` documents of `r` (all by default) in trec_eval's ranking order. */
export function rankedDocs(r: Ranking, k = Infinity): ScoredDoc[] {
  const order = trecOrder(r);
  const n = Math.min(order.length, k);
  const out: ScoredDoc[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = { docid: r.docids[order[i]!]!, score: r.scores[order[i]!]! };
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Line scanning

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

/** True for lines trec_eval's run reader skips: empty, whitespace-only, or '#' as the first non-blank character. */
function isSkippable(line: string): boolean {
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

const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];

/**
 * Parses bytes `[-+]digits[.digits]` with at most 15 digits, or returns NaN for anything else (the caller then takes
 * the strict general path). Exact: the digits form an integer below 2^53 and 10^f is exact, so the one IEEE
 * division rounds correctly, to the same double Number() gives.
 */
function fastDecimal(buf: Buffer, s: number, e: number): number {
  let i = s;
  let neg = false;
  let c = buf[i]!;
  if (c === 45 || c === 43) {
    neg = c === 45;
    i++;
  }
  let m = 0;
  let digits = 0;
  let frac = -1;
  for (; i < e; i++) {
    c = buf[i]!;
    if (c >= 48 && c <= 57) {
      m = m * 10 + (c - 48);
      digits++;
      if (frac >= 0) frac++;
    } else if (c === 46 && frac < 0) frac = 0;
    else return NaN;
  }
  if (digits === 0 || digits > 15) return NaN;
  const v = frac > 0 ? m / POW10[frac]! : m;
  return neg ? -v : v;
}

/** A string of bytes [s, e) that does not pin the chunk: V8 slices of ≥ 13 chars would keep the 4 MB chunk alive. */
function ownString(buf: Buffer, latin1: string, s: number, e: number): string {
  return e - s < 13 ? latin1.slice(s, e) : buf.toString('latin1', s, e);
}

interface QueryAcc {
  docids: string[];
  scores: number[];
  /** Kept only for queries whose lines are not contiguous; contiguous ones use the builder's current set. */
  seen: Set<string> | undefined;
  ranks: Set<number> | undefined;
}

class RunBuilder {
  readonly queries = new Map<string, QueryAcc>();
  format: RunFormat | undefined;
  tag: string | undefined;
  private fields: string[] = [];
  private bounds = new Int32Array(16);
  private lastQid = '';
  private last: QueryAcc | undefined;
  private current = new Set<string>();
  private currentRanks = new Set<number>();
  constructor(
    private readonly file: string,
    format: RunFormat | 'auto',
    private readonly ids: IdMapper | undefined,
  ) {
    this.format = format === 'auto' ? undefined : format;
  }

  /**
   * Hot path for well-formed ASCII lines: no per-line string except the docid (and the qid when it changes).
   * Anything unusual (comment, blank, wrong field count, non-ASCII, exotic number) goes to `line`, which owns all
   * error reporting, so both paths accept and reject exactly the same lines.
   */
  scan(buf: Buffer, latin1: string, s: number, e: number, lineNo: number): void {
    const format = this.format;
    if (format === undefined || this.ids !== undefined || buf[s] === 35) {
      this.line(buf.toString('utf8', s, e), lineNo);
      return;
    }
    const want = format === 'trec' ? 6 : 3;
    const b = this.bounds;
    let n = 0;
    let i = s;
    let high = 0;
    while (i < e) {
      let c = buf[i]!;
      while (c === 32 || (c >= 9 && c <= 13)) {
        if (++i >= e) break;
        c = buf[i]!;
      }
      if (i >= e) break;
      if (n === want) {
        n++;
        break;
      }
      if (n === 0 && c === 35) break; // comment after leading blanks: leave it to `line`
      b[2 * n] = i;
      while (i < e && !(c === 32 || (c >= 9 && c <= 13))) {
        high |= c;
        c = buf[++i]!;
      }
      b[2 * n + 1] = i;
      n++;
    }
    if (n !== want || high >= 128) {
      this.line(buf.toString('utf8', s, e), lineNo);
      return;
    }
    const qs = b[0]!;
    const qe = b[1]!;
    const lastQid = this.lastQid;
    const sameQid = this.last !== undefined && qe - qs === lastQid.length && latin1.startsWith(lastQid, qs);
    const qid = sameQid ? lastQid : ownString(buf, latin1, qs, qe);
    let score: number;
    let rank = 0;
    let docid: string;
    if (format === 'trec') {
      docid = ownString(buf, latin1, b[4]!, b[5]!);
      score = fastDecimal(buf, b[8]!, b[9]!);
      if (score !== score) score = parseScore(latin1.slice(b[8]!, b[9]!), { file: this.file, line: lineNo, field: 'score' });
      if (this.tag === undefined) this.tag = ownString(buf, latin1, b[10]!, b[11]!);
    } else {
      docid = ownString(buf, latin1, b[2]!, b[3]!);
      rank = fastDecimal(buf, b[4]!, b[5]!);
      let plainInt = rank >= 1 && Number.isSafeInteger(rank) && buf[b[4]!] !== 43;
      for (let j = b[4]!; plainInt && j < b[5]!; j++) if (buf[j] === 46) plainInt = false;
      if (!plainInt) {
        this.line(buf.toString('utf8', s, e), lineNo);
        return;
      }
      score = -rank;
    }
    this.add(qid, docid, score, rank, lineNo);
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
        throw new DrhardInputError(`expected 6 fields "qid Q0 docid rank score tag", found ${n > 6 ? 'more than 6' : n}`, {
          file: this.file,
          line: lineNo,
        });
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
    this.add(qid, docid, score, rank, lineNo);
  }

  private add(qid: string, docid: string, score: number, rank: number, lineNo: number): void {
    let acc = this.last;
    if (acc === undefined || qid !== this.lastQid) {
      acc = this.queries.get(qid);
      if (acc === undefined) {
        acc = { docids: [], scores: [], seen: undefined, ranks: undefined };
        this.queries.set(qid, acc);
        this.current = new Set();
      } else {
        // The query's lines resume after another query's: from now on it keeps its own sets. Contiguous queries
        // (the usual layout) never get here, so their sets die young instead of surviving to the end of the file.
        acc.seen ??= new Set(acc.docids);
        if (this.format === 'msmarco') acc.ranks ??= new Set(acc.scores.map((x) => -x));
        this.current = acc.seen;
      }
      this.currentRanks = acc.ranks ?? new Set();
      this.lastQid = qid;
      this.last = acc;
    }
    const seen = this.current;
    const before = seen.size;
    seen.add(docid);
    if (seen.size === before) {
      throw new DrhardInputError(`duplicate document ${docid} for query ${qid}`, { file: this.file, line: lineNo, field: 'docid' });
    }
    if (this.format === 'msmarco') {
      const rs = this.currentRanks;
      const rb = rs.size;
      rs.add(rank);
      if (rs.size === rb) {
        throw new DrhardInputError(`duplicate rank ${rank} for query ${qid}`, { file: this.file, line: lineNo, field: 'rank' });
      }
    }
    acc.docids.push(docid);
    acc.scores.push(score);
  }

  result(): ReadRunResult {
    const run: Run = new Map();
    for (const [qid, acc] of this.queries) run.set(qid, { docids: acc.docids, scores: acc.scores });
    return { run, format: this.format ?? 'trec', tag: this.tag };
  }
}

/**
 * Reads a run file. TREC: `qid Q0 docid rank score tag` (rank ignored, as trec_eval does). MS MARCO:
 * `qid<TAB>docid<TAB>rank`, scored -rank so the file's order holds (ranks must be distinct positive integers; a gap
 * such as 1, 3 ranks the second document 2nd, where msmarco_eval.py would count it at position 3). Duplicate docids
 * within a query, malformed lines and non-numeric scores are errors naming file:line. Blank and '#' lines are skipped.
 */
export function readRun(file: string, opts: ReadRunOptions = {}): ReadRunResult {
  const b = new RunBuilder(file, opts.format ?? 'auto', opts.ids);
  scanFileLines(file, (buf, l, s, e, n) => b.scan(buf, l, s, e, n));
  return b.result();
}

/** Parses run text held in memory; see `readRun`. */
export function parseRun(text: string, source = '<run>', opts: ReadRunOptions = {}): ReadRunResult {
  const b = new RunBuilder(source, opts.format ?? 'auto', opts.ids);
  scanTextLines(text, (buf, l, s, e, n) => b.scan(buf, l, s, e, n));
  return b.result();
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

/** trec_eval's ranking order for two documents: score descending, then docid descending (reverse strcmp). */
export function compareTrecOrder(a: ScoredDoc, b: ScoredDoc): number {
  if (a.score > b.score) return -1;
  if (a.score < b.score) return 1;
  return strcmpUtf8(b.docid, a.docid);
}

// ---------------------------------------------------------------------------------------------------------------
// Writers

const WS_RE = /\s/;

function checkWritable(run: Run): void {
  for (const [qid, r] of run) {
    if (WS_RE.test(qid) || qid.length === 0) throw new DrhardInputError(`query id ${JSON.stringify(qid)} is empty or has whitespace`);
    if (r.docids.length !== r.scores.length) {
      throw new DrhardInputError(`query ${qid}: ${r.docids.length} docids but ${r.scores.length} scores`);
    }
    const seen = new Set<string>();
    for (let i = 0; i < r.docids.length; i++) {
      const d = r.docids[i]!;
      if (WS_RE.test(d) || d.length === 0) {
        throw new DrhardInputError(`document id ${JSON.stringify(d)} (query ${qid}) is empty or has whitespace`);
      }
      if (Number.isNaN(r.scores[i]!)) throw new DrhardInputError(`score is NaN for query ${qid}, document ${d}`);
      if (seen.has(d)) throw new DrhardInputError(`duplicate document ${d} for query ${qid}`);
      seen.add(d);
    }
  }
}

const WRITE_BATCH = 1 << 16;

function writeRunWith(file: string, run: Run, fmt: (qid: string, docid: string, score: number, rank: number) => string): void {
  checkWritable(run);
  const w = new AtomicWriter(file);
  try {
    let parts: string[] = [];
    for (const [qid, r] of run) {
      const order = trecOrder(r);
      for (let i = 0; i < order.length; i++) {
        const j = order[i]!;
        parts.push(fmt(qid, r.docids[j]!, r.scores[j]!, i + 1));
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
  if (WS_RE.test(tag) || tag.length === 0) throw new DrhardInputError(`run tag ${JSON.stringify(tag)} is empty or has whitespace`);
  writeRunWith(file, run, (q, d, s, r) => `${q} Q0 ${d} ${r} ${String(s)} ${tag}\n`);
}

/** Writes `qid<TAB>docid<TAB>rank` lines atomically (msmarco_eval.py input), ranks from trec_eval order. */
export function writeMsmarcoRun(file: string, run: Run): void {
  writeRunWith(file, run, (q, d, _s, r) => `${q}\t${d}\t${r}\n`);
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
