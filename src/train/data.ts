// Training data as the trainer sees it: a dataset's token stores, positives by query offset, and negative lists.
import * as fs from 'node:fs';
import { openDataset, type Dataset } from '../data/dataset.ts';
import type { TokenStore } from '../data/tokenstore.ts';
import { forEachLine } from '../data/trec.ts';
import { readNegatives } from '../retrieval/negatives.ts';
import { DrhardInputError } from '../util/errors.ts';

/** Rows of integer lists in compressed-sparse-row form: 400k queries × 200 negatives stay two typed arrays. */
export class Csr {
  /** start[i]…start[i+1] indexes `data` for row i. */
  readonly start: Int32Array;
  readonly data: Int32Array;
  constructor(start: Int32Array, data: Int32Array) {
    this.start = start;
    this.data = data;
  }
  get rows(): number {
    return this.start.length - 1;
  }
  row(i: number): Int32Array {
    return this.data.subarray(this.start[i] as number, this.start[i + 1] as number);
  }
  size(i: number): number {
    return (this.start[i + 1] as number) - (this.start[i] as number);
  }
  /** Groups (row, value) pairs by row, keeping each row's values in input order. */
  static fromPairs(rows: number, keys: ArrayLike<number>, values: ArrayLike<number>): Csr {
    const n = keys.length;
    const start = new Int32Array(rows + 1);
    for (let i = 0; i < n; i++) start[(keys[i] as number) + 1]! += 1;
    for (let r = 0; r < rows; r++) start[r + 1]! += start[r] as number;
    const fill = start.slice(0, rows);
    const data = new Int32Array(n);
    for (let i = 0; i < n; i++) data[fill[keys[i] as number]!++] = values[i] as number;
    return new Csr(start, data);
  }
}

/** Growable int32 buffer for streaming readers. */
class IntList {
  buf = new Int32Array(1024);
  length = 0;
  push(v: number): void {
    if (this.length === this.buf.length) {
      const b = new Int32Array(this.buf.length * 2);
      b.set(this.buf);
      this.buf = b;
    }
    this.buf[this.length++] = v;
  }
  view(): Int32Array {
    return this.buf.subarray(0, this.length);
  }
}

export interface TrainData {
  dataset: Dataset;
  split: string;
  queries: TokenStore;
  docs: TokenStore;
  padId: number;
  /** Training queries (offsets with at least one positive), ascending: DRhard's sorted qids of the qrels. */
  queryRows: Int32Array;
  /** Positive doc offsets by query offset (qrels grade >= minRel), in qrels order. */
  positives: Csr;
  /** Hard-negative doc offsets by query offset (star, bm25neg). */
  negatives: Csr | null;
  /** Query ids for messages (loaded on first use). */
  queryId(offset: number): string;
}

/** Positives of a split as a Csr over its query offsets. */
export function positivesOf(ds: Dataset, split: string, minRel: number): Csr {
  const qrels = ds.qrels(split);
  const keys = new IntList();
  const vals = new IntList();
  for (const [q, docs] of qrels) {
    for (const [d, rel] of docs) {
      if (rel >= minRel) {
        keys.push(q);
        vals.push(d);
      }
    }
  }
  return Csr.fromPairs(ds.queries(split).count, keys.view(), vals.view());
}

/** Opens the dataset and gathers what training needs; `negatives` names a negatives file to read. */
export function loadTrainData(opts: { data: string; split: string; minRel: number; negatives?: string | undefined }): TrainData {
  const dataset = openDataset(opts.data);
  try {
    const queries = dataset.queries(opts.split);
    const positives = positivesOf(dataset, opts.split, opts.minRel);
    const rows: number[] = [];
    for (let q = 0; q < positives.rows; q++) if (positives.size(q) > 0) rows.push(q);
    if (rows.length === 0) {
      throw new DrhardInputError(`split ${JSON.stringify(opts.split)} has no query with a positive (qrels grade >= ${opts.minRel})`, { file: opts.data });
    }
    let ids: string[] | undefined;
    return {
      dataset,
      split: opts.split,
      queries,
      docs: dataset.corpus,
      padId: dataset.manifest.tokenizer.padId,
      queryRows: Int32Array.from(rows),
      positives,
      negatives: opts.negatives === undefined ? null : readNegativesFile(opts.negatives, dataset, opts.split),
      queryId: (o) => (ids ??= dataset.queryIds(opts.split))[o] ?? `#${o}`,
    };
  } catch (e) {
    dataset.close();
    throw e;
  }
}

/**
 * Reads negative lists into a Csr over the split's query offsets. Accepted forms:
 * - `drhard mine` output (JSON lines or binary) and DRhard's hard.json `{"<query offset>": [doc offsets]}`, read by
 *   src/retrieval/negatives.ts;
 * - lines `qid<TAB>docid[<TAB>rank[<TAB>score]]` or TREC run lines `qid Q0 docid rank score tag` with the dataset's
 *   original ids (negatives mined elsewhere, e.g. a BM25 run).
 * Each query's list keeps file order. Unknown ids or offsets are errors naming file:line.
 */
export function readNegativesFile(file: string, ds: Dataset, split: string): Csr {
  const nq = ds.queries(split).count;
  const nd = ds.corpus.count;
  let head: string;
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const b = Buffer.alloc(64);
      head = b.subarray(0, fs.readSync(fd, b, 0, 64, 0)).toString('latin1');
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    throw new DrhardInputError(`cannot read negatives (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { file });
  }
  if (head.startsWith('DRNEG') || head.trimStart().startsWith('{')) {
    const n = readNegatives(file, { queries: nq, docs: nd });
    const keys = new Int32Array(n.docs.length);
    n.qoffsets.forEach((q, i) => keys.fill(q, n.start[i] as number, n.start[i + 1] as number));
    return Csr.fromPairs(nq, keys, n.docs);
  }
  const keys = new IntList();
  const vals = new IntList();
  forEachLine(file, (line, lineNo) => {
    if (line.length === 0 || line.startsWith('#')) return;
    const f = line.split(/\s+/);
    const trec = f.length === 6 && f[1] === 'Q0';
    if (!trec && (f.length < 2 || f.length > 4)) {
      throw new DrhardInputError(`expected "qid<TAB>docid[<TAB>rank[<TAB>score]]" or a TREC run line, found ${f.length} fields`, { file, line: lineNo });
    }
    const qid = f[0] as string;
    const docid = (trec ? f[2] : f[1]) as string;
    const q = ds.queryOffset(split, qid);
    if (q === undefined) throw new DrhardInputError(`query ${JSON.stringify(qid)} is not in split ${JSON.stringify(split)}`, { file, line: lineNo, field: 'qid' });
    const d = ds.docOffset(docid);
    if (d === undefined) throw new DrhardInputError(`document ${JSON.stringify(docid)} is not in the corpus`, { file, line: lineNo, field: 'docid' });
    keys.push(q);
    vals.push(d);
  });
  return Csr.fromPairs(nq, keys.view(), vals.view());
}
