// Streaming run-file output for search results: TREC (with scores) or MS MARCO lines, doc offsets or original ids,
// written query block by query block into one atomically published file.
import type { Qrels, Run } from '../data/trec.ts';
import { RunFileWriter } from '../data/runwriter.ts';
import { evaluate } from '../eval/evaluate.ts';
import * as T from '../tensor/index.ts';
import { layoutOf, readRows } from './embeddings.ts';

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
 * Appends per-query hits (offsets) and publishes the file on `close()`: the hits-to-ids adaptor over the one run
 * writer (src/data/runwriter.ts), which ranks each query in trec_eval's order with ranks 1..n.
 */
export class RunWriter {
  readonly #w: RunFileWriter;
  readonly #o: RunWriterOptions;

  /** `file` null writes to stdout (nothing to publish or abort). */
  constructor(file: string | null, opts: RunWriterOptions) {
    this.#o = opts;
    this.#w = new RunFileWriter(file, { format: opts.format, ...(opts.tag !== undefined ? { tag: opts.tag } : {}) });
  }

  get lines(): number {
    return this.#w.lines;
  }

  /** Adds `hits` rows as queries qoffset0, qoffset0+1, …; empty slots (id -1) are skipped. */
  add(qoffset0: number, hits: { ids: Int32Array; scores: ArrayLike<number>; k: number }): void {
    const k = hits.k;
    const B = hits.ids.length / k;
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
      this.#w.addRanking(qid, docids, scores);
    }
  }

  /** Adds one query's documents (any order; ranked here). */
  addRanking(qid: string, docids: string[], scores: ArrayLike<number>): void {
    this.#w.addRanking(qid, docids, scores);
  }

  close(): void {
    this.#w.close();
  }
  abort(): void {
    this.#w.abort();
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
 * Averages over every qrels query (missing ones count 0, like trec_eval -c). `ids` must be the id writers the run
 * file was written with: trec_eval breaks score ties by docid, so the logged numbers equal `drhard evaluate` on the
 * written file only when the ties are broken on the same ids.
 */
export function evaluateHits(
  qrels: Map<number, Map<number, number>>,
  qoffsets: ArrayLike<number>,
  hits: { ids: Int32Array; scores: ArrayLike<number>; k: number },
  metrics: readonly string[] = ['mrr@10', 'recall@100', 'ndcg@10'],
  ids: { qid?: (qoffset: number) => string; docid?: (doffset: number) => string } = {},
): Record<string, number> {
  const qid = ids.qid ?? String;
  const docid = ids.docid ?? String;
  const run: Run = new Map();
  for (let b = 0; b < qoffsets.length; b++) {
    const docids: string[] = [];
    const scores: number[] = [];
    for (let j = 0; j < hits.k; j++) {
      const d = hits.ids[b * hits.k + j] as number;
      if (d < 0) continue;
      docids.push(docid(d));
      scores.push(hits.scores[b * hits.k + j] as number);
    }
    run.set(qid(qoffsets[b] as number), { docids, scores });
  }
  const q: Qrels = new Map();
  for (const [qo, m] of qrels) q.set(qid(qo), new Map([...m].map(([d, r]) => [docid(d), r])));
  return evaluate(q, run, { metrics, complete: true }).mean;
}
