// Run files (TREC `qid Q0 docid rank score tag`, MS MARCO `qid<TAB>docid<TAB>rank`): a streaming reader with a
// fast path for well-formed ASCII lines and file:line errors for everything else.
import { DrhardInputError } from '../util/errors.ts';
import { isSkippable, parseIntStrict, parseScore, scanFileLines, scanTextLines, splitFields } from './lines.ts';
import type { IdMapper, Run, RunFormat } from './ranking.ts';

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
