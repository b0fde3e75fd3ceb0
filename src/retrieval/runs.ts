// Streaming run-file output for search results: TREC (with scores) or MS MARCO lines, doc offsets or original ids,
// written query block by query block into one atomically published file.
import { trecOrder, type Qrels, type Run } from '../data/trec.ts';
import { evaluate } from '../eval/evaluate.ts';
import * as T from '../tensor/index.ts';
import { layoutOf, readRows } from './embeddings.ts';
import { DrhardInputError } from '../util/errors.ts';
import { AtomicWriter } from '../util/fsx.ts';

export type RunFileFormat = 'trec' | 'msmarco';

export interface RunWriterOptions {
  format: RunFileFormat;
  /** TREC run tag (default 'drhard'). */
  tag?: string;
  /** Query offset → id written in the file (default: the offset). */
  qid?: (qoffset: number) => string;
  /** Doc offset → id written in the file (default: the offset). */
  docid?: (doffset: number) => string;
}

/**
 * Appends per-query hits and publishes the file on `close()`. Within a query the lines follow trec_eval's order
 * (score descending, ties by docid descending), as src/data/trec.ts writes runs, so re-reading gives the same
 * ranking. Ranks are 1..n.
 */
export class RunWriter {
  readonly #w: AtomicWriter | null;
  readonly #o: RunWriterOptions;
  readonly #tag: string;
  #lines = 0;

  /** `file` null writes to stdout (nothing to publish or abort). */
  constructor(file: string | null, opts: RunWriterOptions) {
    this.#o = opts;
    this.#tag = opts.tag ?? 'drhard';
    if (/\s/.test(this.#tag) || this.#tag.length === 0) throw new DrhardInputError(`run tag ${JSON.stringify(this.#tag)} is empty or has whitespace`);
    this.#w = file === null ? null : new AtomicWriter(file);
  }

  #write(s: string): void {
    if (this.#w === null) process.stdout.write(s);
    else this.#w.write(s);
  }

  get lines(): number {
    return this.#lines;
  }

  /** Adds `hits` rows as queries qoffset0, qoffset0+1, …; empty slots (id -1) are skipped. */
  add(qoffset0: number, hits: { ids: Int32Array; scores: ArrayLike<number>; k: number }): void {
    const k = hits.k;
    const B = hits.ids.length / k;
    const parts: string[] = [];
    for (let b = 0; b < B; b++) {
      const qid = this.#o.qid ? this.#o.qid(qoffset0 + b) : String(qoffset0 + b);
      const docids: string[] = [];
      const scores: number[] = [];
      for (let j = 0; j < k; j++) {
        const id = hits.ids[b * k + j] as number;
        if (id < 0) continue;
        docids.push(this.#o.docid ? this.#o.docid(id) : String(id));
        scores.push(hits.scores[b * k + j] as number);
      }
      this.addRanking(qid, docids, scores, parts);
      // Bounded string building: a train split × k=1000 is tens of millions of lines.
      if (parts.length >= 65536) this.#write(parts.splice(0).join(''));
    }
    this.#write(parts.join(''));
  }

  /** Adds one query's documents (any order; ranked here). */
  addRanking(qid: string, docids: string[], scores: ArrayLike<number>, sink?: string[]): void {
    const out = sink ?? [];
    const order = trecOrder({ docids, scores: Array.from(scores) });
    for (let i = 0; i < order.length; i++) {
      const j = order[i] as number;
      const d = docids[j] as string;
      out.push(this.#o.format === 'trec' ? `${qid} Q0 ${d} ${i + 1} ${String(scores[j])} ${this.#tag}\n` : `${qid}\t${d}\t${i + 1}\n`);
    }
    this.#lines += order.length;
    if (sink === undefined) this.#write(out.join(''));
  }

  close(): void {
    this.#w?.commit();
  }
  abort(): void {
    this.#w?.abort();
  }
}

/**
 * Searches every row of a query embeddings file (row = query offset) and appends the hits to `writer`, `block`
 * queries per search call. Returns the number of queries searched.
 */
export function searchFileToRun(
  searcher: { search(q: T.Tensor, k: number): { ids: Int32Array; scores: Float32Array; k: number } },
  queries: string,
  writer: RunWriter,
  opts: { k: number; block?: number; dim?: number; onProgress?: (done: number, total: number) => void },
): number {
  const layout = layoutOf(queries, opts.dim === undefined ? undefined : { dim: opts.dim });
  const block = opts.block ?? 4096;
  for (let s = 0; s < layout.count; s += block) {
    const n = Math.min(block, layout.count - s);
    const hits = T.tidy(() => searcher.search(readRows(queries, layout, s, n), opts.k));
    writer.add(s, hits);
    opts.onProgress?.(s + n, layout.count);
  }
  return layout.count;
}

/**
 * trec_eval-semantics metrics (src/eval) of in-memory hits against offset qrels: `qoffsets[b]` is row b of `hits`.
 * Averages over every qrels query (missing ones count 0, like trec_eval -c).
 */
export function evaluateHits(
  qrels: Map<number, Map<number, number>>,
  qoffsets: ArrayLike<number>,
  hits: { ids: Int32Array; scores: ArrayLike<number>; k: number },
  metrics: readonly string[] = ['mrr@10', 'recall@100', 'ndcg@10'],
): Record<string, number> {
  const run: Run = new Map();
  for (let b = 0; b < qoffsets.length; b++) {
    const docids: string[] = [];
    const scores: number[] = [];
    for (let j = 0; j < hits.k; j++) {
      const d = hits.ids[b * hits.k + j] as number;
      if (d < 0) continue;
      docids.push(String(d));
      scores.push(hits.scores[b * hits.k + j] as number);
    }
    run.set(String(qoffsets[b]), { docids, scores });
  }
  const q: Qrels = new Map();
  for (const [qo, m] of qrels) q.set(String(qo), new Map([...m].map(([d, r]) => [String(d), r])));
  return evaluate(q, run, { metrics, complete: true }).mean;
}
