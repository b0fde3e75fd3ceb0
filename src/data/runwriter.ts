// The one writer of run files (TREC and MS MARCO lines) for every command: search, bm25, fuse, mine's dev runs, the
// demo and train's dev runs all go through RunFileWriter, so every run file ranks, formats and publishes alike.
import { DrhardInputError } from '../util/errors.ts';
import { AtomicWriter } from '../util/fsx.ts';
import { trecOrder, type Run, type RunFormat, type Scores } from './ranking.ts';

const WS_RE = /\s/;
const WRITE_BATCH = 1 << 16;

export interface RunFileWriterOptions {
  format: RunFormat;
  /** TREC run tag (default 'drhard'); ignored for MS MARCO lines. */
  tag?: string;
}

/**
 * One run line. Scores print with the shortest round-trip representation (String), never rounded: a rounded score
 * (e.g. toFixed(6)) creates ties that trec_eval breaks by docid, so the file would rank differently from the scores
 * the metrics were computed on.
 */
export function formatRunLine(format: RunFormat, qid: string, docid: string, rank: number, score: number, tag: string): string {
  return format === 'trec' ? `${qid} Q0 ${docid} ${rank} ${String(score)} ${tag}\n` : `${qid}\t${docid}\t${rank}\n`;
}

/**
 * Streams rankings, query by query, into one atomically published file (or stdout when `file` is null). Each query
 * is written in trec_eval's order (score descending, ties by docid descending) with ranks 1..n, so re-reading the
 * file gives exactly the ranking that was added, whichever evaluator reads it.
 */
export class RunFileWriter {
  readonly #w: AtomicWriter | null;
  readonly #format: RunFormat;
  readonly #tag: string;
  #parts: string[] = [];
  #lines = 0;
  #queries = 0;

  constructor(file: string | null, opts: RunFileWriterOptions) {
    this.#format = opts.format;
    this.#tag = opts.tag ?? 'drhard';
    if (WS_RE.test(this.#tag) || this.#tag.length === 0) throw new DrhardInputError(`run tag ${JSON.stringify(this.#tag)} is empty or has whitespace`);
    this.#w = file === null ? null : new AtomicWriter(file);
  }

  get lines(): number {
    return this.#lines;
  }
  get queries(): number {
    return this.#queries;
  }

  /** Adds one query's documents in any order (ranked here). Ids must be non-empty without whitespace, unique. */
  addRanking(qid: string, docids: readonly string[], scores: Scores | ArrayLike<number>): void {
    if (WS_RE.test(qid) || qid.length === 0) throw new DrhardInputError(`query id ${JSON.stringify(qid)} is empty or has whitespace`);
    if (docids.length !== scores.length) throw new DrhardInputError(`query ${qid}: ${docids.length} docids but ${scores.length} scores`);
    const seen = new Set<string>();
    for (let i = 0; i < docids.length; i++) {
      const d = docids[i]!;
      if (WS_RE.test(d) || d.length === 0) throw new DrhardInputError(`document id ${JSON.stringify(d)} (query ${qid}) is empty or has whitespace`);
      if (Number.isNaN(scores[i]!)) throw new DrhardInputError(`score is NaN for query ${qid}, document ${d}`);
      seen.add(d);
      if (seen.size !== i + 1) throw new DrhardInputError(`duplicate document ${d} for query ${qid}`);
    }
    const order = trecOrder({ docids: docids as string[], scores: scores as Scores });
    const parts = this.#parts;
    for (let i = 0; i < order.length; i++) {
      const j = order[i]!;
      parts.push(formatRunLine(this.#format, qid, docids[j]!, i + 1, scores[j]!, this.#tag));
      // Bounded string building: a train split × k=1000 is tens of millions of lines.
      if (parts.length >= WRITE_BATCH) this.#flush();
    }
    this.#lines += order.length;
    this.#queries++;
  }

  /** Adds every query of `run`, in the run's query order. */
  addRun(run: Run): void {
    for (const [qid, r] of run) this.addRanking(qid, r.docids, r.scores);
  }

  #flush(): void {
    if (this.#parts.length === 0) return;
    const s = this.#parts.join('');
    this.#parts = [];
    if (this.#w === null) process.stdout.write(s);
    else this.#w.write(s);
  }

  /** Writes what is buffered and publishes the file (verified write, fsync, rename). */
  close(): void {
    this.#flush();
    this.#w?.commit();
  }
  abort(): void {
    this.#parts = [];
    this.#w?.abort();
  }
}

/** Writes a whole run to `file` (null: stdout) in `format`; nothing is left behind on error. */
export function writeRun(file: string | null, run: Run, opts: RunFileWriterOptions): void {
  const w = new RunFileWriter(file, opts);
  try {
    w.addRun(run);
    w.close();
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
  writeRun(file, run, { format: 'trec', ...(opts.tag !== undefined ? { tag: opts.tag } : {}) });
}

/** Writes `qid<TAB>docid<TAB>rank` lines atomically (msmarco_eval.py input), ranks from trec_eval order. */
export function writeMsmarcoRun(file: string, run: Run): void {
  writeRun(file, run, { format: 'msmarco' });
}
