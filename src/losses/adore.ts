// ADORE loss: DRhard's adore/train.py, a LambdaRank-style RankNet loss on one query's retrieved list, pairs
// weighted by the change in reciprocal rank.
//
//   y_k   = q · d_k                     d_k: frozen doc embeddings of the list (rank k = 1, 2, …); gradient to q only
//   r_k   = 1/k if k ≤ metricCut else 0 (DRhard's arr[metric_cut:] = 0; a null cut there zeroes every weight)
//   w_ij  = |r_i − r_j|
//   loss_q = Σ_{i relevant, j not} w_ij · softplus(y_j − y_i) / #(relevant, non-relevant pairs)
//   L = Σ_q loss_q / B
//
// DRhard adds both mirror terms C_pos and C_neg (each pair twice) and divides by 2·#pairs; the value is the same.
// DRhard divides by the configured batch size even for an epoch's smaller last batch; B here is the actual size.
// Shapes: scores [B, L] (lists padded to L), labels [B, L] (1 = relevant), valid [B, L] (0 = padding).
import { arange, tensor, tidy, type Tensor } from '../tensor/index.ts';

export interface AdoreLossInput {
  /** [B, L] q·d over each query's list. */
  scores: Tensor;
  /** [B, L] 1 where the listed doc is relevant. */
  labels: Tensor;
  /** [B, L] 1 for list entries, 0 for padding. */
  valid: Tensor;
  /** Ranks beyond this get 1/rank = 0. Must be ≥ 1. */
  metricCut: number;
}

/** Per-query losses [B] and their batch mean (scalar). A query without any (relevant, non-relevant) pair adds 0. */
export function adoreLoss(x: AdoreLossInput): { loss: Tensor; perQuery: Tensor } {
  if (!Number.isInteger(x.metricCut) || x.metricCut < 1) {
    throw new RangeError(`metricCut must be an integer >= 1 (a cut of 0 or none makes every ADORE weight 0), got ${x.metricCut}`);
  }
  return tidy(() => {
    const y = x.scores.dtype === 'float64' ? x.scores : x.scores.to('float32');
    const [B, L] = y.shape as [number, number];
    const opts = { dtype: y.dtype, device: y.device };
    const ranks = arange(1, L + 1, 1, opts);
    const inv = ranks.reciprocal().mul(ranks.le(x.metricCut).to(y.dtype)); // [L]
    const w = inv.unsqueeze(1).sub(inv.unsqueeze(0)).abs(); // [L, L]
    const rel = x.labels.to(opts).mul(x.valid.to(opts)); // [B, L]
    const non = x.labels.to(opts).neg().add(1).mul(x.valid.to(opts)); // [B, L]
    const pairs = rel.unsqueeze(2).mul(non.unsqueeze(1)); // [B, L(i relevant), L(j not)]
    const c = y.unsqueeze(1).sub(y.unsqueeze(2)).softplus(); // [B, i, j] = softplus(y_j − y_i)
    const count = pairs.sum([1, 2]); // [B]
    const perQuery = c.mul(w).mul(pairs).sum([1, 2]).div(count.clamp(1, null));
    return { loss: perQuery.sum().div(B), perQuery };
  });
}

/** One query's list for the loss: doc offsets in rank order, relevance labels, and the retrieval metrics. */
export interface AdoreLists {
  /** [B, L] doc offsets (padding: 0, masked by `valid`). */
  ids: Int32Array;
  labels: Float32Array;
  valid: Float32Array;
  /** Padded list length L. */
  L: number;
  /** Entries per query (retrieved + appended). */
  lengths: number[];
  /** Positives appended after the retrieved list, per query. */
  appended: number[];
  /** MRR@10 and recall@10 (any relevant doc in the top 10) of the retrieved lists, per query (DRhard's train metrics). */
  mrr10: number[];
  recall10: number[];
}

/**
 * Labels the retrieved lists by qrels and appends positives. `retrieved` is [B, k] row-major (-1 = no result,
 * as an ANN index may return; such slots are dropped). DRhard appends all of a query's positives only when none
 * was retrieved; `appendMissingPositives` (JPQ's fix) appends every positive not retrieved.
 */
export function buildAdoreLists(
  retrieved: ArrayLike<number>,
  k: number,
  positives: ReadonlyArray<ArrayLike<number>>,
  opts: { appendMissingPositives?: boolean } = {},
): AdoreLists {
  const B = positives.length;
  if (retrieved.length !== B * k) throw new RangeError(`retrieved has ${retrieved.length} ids, expected ${B} × ${k}`);
  const lists: number[][] = [];
  const labels: number[][] = [];
  const appended: number[] = [];
  const mrr10: number[] = [];
  const recall10: number[] = [];
  for (let b = 0; b < B; b++) {
    const pos = new Set(Array.from(positives[b] as ArrayLike<number>));
    const list: number[] = [];
    const lab: number[] = [];
    for (let j = 0; j < k; j++) {
      const d = retrieved[b * k + j] as number;
      if (d < 0) continue;
      list.push(d);
      lab.push(pos.has(d) ? 1 : 0);
    }
    const first = lab.slice(0, 10).indexOf(1);
    mrr10.push(first >= 0 ? 1 / (first + 1) : 0);
    recall10.push(first >= 0 ? 1 : 0);
    const found = new Set(list.filter((_, i) => lab[i] === 1));
    let add: number[] = [];
    if (found.size === 0) add = Array.from(positives[b] as ArrayLike<number>);
    else if (opts.appendMissingPositives === true) add = Array.from(positives[b] as ArrayLike<number>).filter((d) => !found.has(d));
    for (const d of add) {
      list.push(d);
      lab.push(1);
    }
    appended.push(add.length);
    lists.push(list);
    labels.push(lab);
  }
  const L = Math.max(1, ...lists.map((l) => l.length));
  const ids = new Int32Array(B * L);
  const lab = new Float32Array(B * L);
  const valid = new Float32Array(B * L);
  lists.forEach((l, b) => {
    ids.set(l, b * L);
    lab.set(labels[b] as number[], b * L);
    valid.fill(1, b * L, b * L + l.length);
  });
  return { ids, labels: lab, valid, L, lengths: lists.map((l) => l.length), appended, mrr10, recall10 };
}

/** The lists as tensors: ids [B, L] int64 (for indexSelect), labels and valid [B, L] float32. */
export function listTensors(l: AdoreLists, device = 'cpu'): { ids: Tensor; labels: Tensor; valid: Tensor } {
  const B = l.lengths.length;
  return tidy(() => ({
    ids: tensor(l.ids, { shape: [B, l.L] }).to({ dtype: 'int64', device }),
    labels: tensor(l.labels, { shape: [B, l.L], device }),
    valid: tensor(l.valid, { shape: [B, l.L], device }),
  }));
}
