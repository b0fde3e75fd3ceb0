// Rand-Neg loss on embeddings: DRhard's randneg_train (model.py), the pairwise logistic loss against random docs only.
//
//   s_ii = q_i · d_i   (the query's positive; the other in-batch positives are NOT used as negatives)
//   s_ik = q_i · r_k   over the random corpus documents of the whole batch (shared across queries)
//   L = Σ_ik h_ik softplus(s_ik − s_ii) / Σ_ik h_ik
//
// h = hard_pair_mask: 0 where the random doc r_k happens to be relevant to q_i. Without a mask every pair counts.
// Shapes: queries [B, D], positives [B, D], random [K, D] (K = B · rand_num), mask [B, K]. Scores in float32.
import { tidy, type Tensor } from '../tensor/index.ts';
import { diagonalColumn, maskedPairSum, scoreDtype } from './star.ts';

export interface RandnegLossInput {
  /** [B, D] */
  queries: Tensor;
  /** [B, D] each query's sampled positive. */
  positives: Tensor;
  /** [K, D] uniformly random corpus documents, shared across the batch. */
  random: Tensor;
  /** [B, K] 1 = valid pair, 0 = the random doc is relevant to the query. */
  mask?: Tensor | null;
}

/** The Rand-Neg loss (scalar). */
export function randnegLoss(x: RandnegLossInput): Tensor {
  return tidy(() => {
    const q = scoreDtype(x.queries);
    // DRhard takes s_ii from the full q·dᵀ (same rounding as the in-batch loss); B² is cheap next to the encoders.
    const pos = diagonalColumn(q.matmul(scoreDtype(x.positives).t())); // [B, 1]
    const r = maskedPairSum(q.matmul(scoreDtype(x.random).t()), pos, x.mask); // [B, K]
    return r.loss.div(r.count);
  });
}
