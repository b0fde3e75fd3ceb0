// In-memory runs (columns of docids and scores per query) and trec_eval's ranking order: score descending, then
// docid descending in UTF-8 byte order.
import { DrhardInputError } from '../util/errors.ts';

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
