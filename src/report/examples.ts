// Per-query examples for a compared pair of runs: the queries where one method gained or lost most against the
// other, with the query text and each method's top documents (relevant ones marked), ranked as trec_eval ranks them.
import { rankedDocs, strcmpUtf8, type Qrels, type Run } from '../data/trec.ts';
import { evaluate } from '../eval/evaluate.ts';
import type { PairExample } from './types.ts';

export interface PairExamplesOptions {
  /** The baseline run (`a`) and the run compared with it (`b`), over the same ids as `qrels`. */
  a: Run;
  b: Run;
  qrels: Qrels;
  /** Metric the queries are chosen by (per-query b − a), default 'mrr@10'. */
  metric?: string;
  queryText: (qid: string) => string;
  docText: (docid: string) => string;
  /** Examples in all (default 6): the larger half where b gained most, the rest where it lost most. */
  count?: number;
  /** Top documents shown per method (default 5). */
  k?: number;
  /** Texts are cut to this many characters (default 160). */
  maxChars?: number;
}

function clip(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}

/**
 * Picks the queries with the largest gains of `b` over `a`, then the largest losses (ties by qid, so the same runs
 * give the same examples), filling up from the other side when one has too few. Queries where both score the same
 * are never shown: they say nothing about the pair.
 */
export function pairExamples(o: PairExamplesOptions): PairExample[] {
  const metric = o.metric ?? 'mrr@10';
  const count = o.count ?? 6;
  const k = o.k ?? 5;
  const maxChars = o.maxChars ?? 160;
  const ea = evaluate(o.qrels, o.a, { metrics: [metric], complete: true });
  const eb = evaluate(o.qrels, o.b, { metrics: [metric], complete: true });
  const deltas: Array<{ qid: string; delta: number }> = [];
  for (const [qid, rec] of eb.perQuery) {
    const va = ea.perQuery.get(qid)?.[metric];
    const vb = rec[metric];
    if (va === undefined || vb === undefined) continue;
    if (vb !== va) deltas.push({ qid, delta: vb - va });
  }
  const byQid = (x: { qid: string }, y: { qid: string }): number => strcmpUtf8(x.qid, y.qid);
  const gains = deltas.filter((d) => d.delta > 0).sort((x, y) => y.delta - x.delta || byQid(x, y));
  const losses = deltas.filter((d) => d.delta < 0).sort((x, y) => x.delta - y.delta || byQid(x, y));
  let nGain = Math.min(gains.length, Math.ceil(count / 2));
  const nLoss = Math.min(losses.length, count - nGain);
  nGain = Math.min(gains.length, count - nLoss);
  const picked = [...gains.slice(0, nGain), ...losses.slice(0, nLoss)];
  const top = (run: Run, qid: string): PairExample['a'] => {
    const r = run.get(qid);
    if (r === undefined) return [];
    const judged = o.qrels.get(qid);
    return rankedDocs(r, k).map((d) => ({ docid: d.docid, text: clip(o.docText(d.docid), maxChars), relevant: (judged?.get(d.docid) ?? 0) > 0 }));
  };
  return picked.map(({ qid, delta }) => ({
    qid,
    query: clip(o.queryText(qid), maxChars),
    delta,
    relevant: [...(o.qrels.get(qid) ?? new Map<string, number>())].filter(([, g]) => g > 0).length,
    a: top(o.a, qid),
    b: top(o.b, qid),
  }));
}
