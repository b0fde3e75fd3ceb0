// Periodic dev evaluation during training: MRR@10 and recall@100 of a fixed dev-query sample, searched with
// DenseSearcher (STAR-style: freshly encoded documents; ADORE: the fixed index) and scored by src/eval.
import { cat, noGrad, tidy, type Tensor } from '../tensor/index.ts';
import type { DotModel } from '../models/dual.ts';
import type { TokenStore } from '../data/tokenstore.ts';
import { DenseSearcher } from '../retrieval/search.ts';
import { evaluate, type Qrels, type Run } from '../eval/index.ts';
import { Rng } from '../util/rng.ts';
import type { TrainData } from './data.ts';
import { tokenBatch } from './star.ts';

export const DEV_METRICS = ['mrr@10', 'recall@100'] as const;
/** Documents retrieved per dev query. */
export const DEV_DEPTH = 100;
const DEPTH = DEV_DEPTH;

export interface DevEvalOptions {
  split: string;
  queries: number;
  docs: number;
  batchSize: number;
  maxQueryLength: number;
  maxDocLength: number;
  device: string;
  seed: number;
}

/** Encodes rows of a token store in eval mode (no dropout, no graph) → [n, D] float32 on the CPU. */
export function encodeRows(model: DotModel, store: TokenStore, rows: readonly number[], maxLen: number, padId: number, batchSize: number, device: string): Tensor {
  return noGrad(() =>
    tidy(() => {
      const parts: Tensor[] = [];
      for (let s = 0; s < rows.length; s += batchSize) {
        const b = tokenBatch(store, rows.slice(s, s + batchSize), maxLen, padId, false, device);
        parts.push(model.encode(b.ids, b.mask).to({ dtype: 'float32', device: 'cpu' }));
      }
      return parts.length === 1 ? (parts[0] as Tensor) : cat(parts, 0);
    }),
  );
}

export class DevEvaluator {
  private readonly data: TrainData;
  private readonly o: DevEvalOptions;
  private readonly queryRows: number[];
  /** Doc offsets encoded for STAR-style evaluation (null: the whole corpus). */
  private readonly docRows: number[] | null;
  private readonly qrels: Qrels;
  /**
   * Offset → the dataset's id. Metrics are computed over original ids, as `drhard evaluate --data` scores a run of
   * these offsets: trec_eval breaks score ties by docid, so offsets would order ties differently.
   */
  private readonly qid: (qoffset: number) => string;
  private readonly docid: (doffset: number) => string;

  constructor(data: TrainData, o: DevEvalOptions) {
    this.data = data;
    this.o = o;
    const qids = data.dataset.queryIds(o.split);
    const dids = data.dataset.docIds();
    this.qid = (q) => qids[q] ?? String(q);
    this.docid = (d) => dids[d] ?? String(d);
    const all = data.dataset.qrels(o.split);
    const judged = [...all.keys()].filter((q) => [...(all.get(q) as Map<number, number>).values()].some((r) => r >= 1)).sort((a, b) => a - b);
    // A sample fixed by the seed alone, so every evaluation of a run (and of its resumption) uses the same queries.
    const rng = new Rng(o.seed).fork('dev-sample');
    this.queryRows = o.queries > 0 && o.queries < judged.length ? rng.sample(judged.length, o.queries).map((i) => judged[i] as number).sort((a, b) => a - b) : judged;
    this.qrels = new Map(this.queryRows.map((q) => [this.qid(q), new Map([...(all.get(q) as Map<number, number>)].map(([d, r]) => [this.docid(d), r]))]));
    if (o.docs > 0) {
      const docs = new Set<number>();
      for (const q of this.queryRows) for (const d of (all.get(q) as Map<number, number>).keys()) docs.add(d);
      for (const d of rng.sample(data.docs.count, Math.min(o.docs, data.docs.count))) docs.add(d);
      this.docRows = [...docs].sort((a, b) => a - b);
    } else this.docRows = null;
  }

  get size(): number {
    return this.queryRows.length;
  }

  /** Evaluates `model` (restoring its train/eval mode); `fixed` searches ADORE's document index instead of re-encoding. */
  run(model: DotModel, fixed?: Pick<DenseSearcher, 'search'>): Record<string, number> {
    const wasTraining = model.training;
    model.eval();
    try {
      const store = this.data.dataset.queries(this.o.split);
      const q = encodeRows(model, store, this.queryRows, this.o.maxQueryLength, this.data.padId, this.o.batchSize, this.o.device);
      try {
        let hits: { ids: Int32Array; scores: Float32Array; k: number };
        let docOf: (i: number) => number = (i) => i;
        if (fixed) hits = fixed.search(q, DEPTH);
        else {
          const rows = this.docRows ?? Array.from({ length: this.data.docs.count }, (_, i) => i);
          const docs = encodeRows(model, this.data.docs, rows, this.o.maxDocLength, this.data.padId, this.o.batchSize, this.o.device);
          try {
            using s = DenseSearcher.fromTensor(docs);
            hits = s.search(q, DEPTH);
          } finally {
            docs.dispose();
          }
          docOf = (i) => rows[i] as number;
        }
        const run: Run = new Map();
        this.queryRows.forEach((qo, b) => {
          const docids: string[] = [];
          const scores: number[] = [];
          for (let j = 0; j < hits.k; j++) {
            const id = hits.ids[b * hits.k + j] as number;
            if (id < 0) continue;
            docids.push(this.docid(docOf(id)));
            scores.push(hits.scores[b * hits.k + j] as number);
          }
          run.set(this.qid(qo), { docids, scores });
        });
        return evaluate(this.qrels, run, { metrics: DEV_METRICS }).mean;
      } finally {
        q.dispose();
      }
    } finally {
      model.train(wasTraining);
    }
  }
}
