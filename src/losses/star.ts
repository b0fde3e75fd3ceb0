// STAR / Inbatch-Neg / BM25-Neg loss on embeddings: DRhard's inbatch_train (model.py), the pairwise logistic loss.
//
//   s_ij = q_i · d_j   over the batch's positives d (in-batch random negatives)
//   s_ik = q_i · h_k   over the hard documents of the WHOLE batch (each query's hard docs are shared with all)
//   L = [ Σ_ij m_ij softplus(s_ij − s_ii) + Σ_ik h_ik softplus(s_ik − s_ii) ] / (Σ_ij m_ij + Σ_ik h_ik)
//
// softplus(s − s_ii) = −log_softmax([s_ii, s])[0], DRhard's two-logit form. m = rel_pair_mask (0 where d_j is
// relevant to q_i: the diagonal and in-batch false negatives), h = hard_pair_mask (the same test for hard docs).
// Shapes: queries [B, D], positives [B, D], hard [K, D] (K = B · hard_num), relMask [B, B], hardMask [B, K].
// Scores are computed in float32 (DRhard runs this under autocast(enabled=False)); float64 inputs stay float64.
import { arange, full, tensor, tidy, type Tensor } from '../tensor/index.ts';

export interface InbatchLossInput {
  /** [B, D] query embeddings. */
  queries: Tensor;
  /** [B, D] embeddings of each query's sampled positive. */
  positives: Tensor;
  /** [K, D] hard (or any extra) negatives shared across the batch; absent for Inbatch-Neg. */
  hard?: Tensor | null;
  /** [B, B] 1 = valid pair, 0 = d_j is relevant to q_i. Default: 1 − I, as DRhard when no mask is given. */
  relMask?: Tensor | null;
  /** [B, K] 1 = valid pair. Default: all pairs count (DRhard divides by the number of pairs). */
  hardMask?: Tensor | null;
}

/** Half precision would lose the small score differences the loss is about; DRhard disables autocast here. */
export function scoreDtype(t: Tensor): Tensor {
  return t.dtype === 'float16' || t.dtype === 'bfloat16' ? t.to('float32') : t;
}

/** s_ii as a column: the diagonal of the in-batch score matrix. scores [B, N≥B] → [B, 1]. */
export function diagonalColumn(scores: Tensor): Tensor {
  const b = scores.size(0);
  return scores.gather(1, arange(0, b, 1, { device: scores.device }).unsqueeze(1));
}

/** Σ mask·softplus(s − s_pos) and Σ mask (the mask defaulting to all ones) for scores [B, N], pos [B, 1]. */
export function maskedPairSum(scores: Tensor, pos: Tensor, mask: Tensor | null | undefined): { loss: Tensor; count: Tensor } {
  const sp = scores.sub(pos).softplus();
  if (!mask) return { loss: sp.sum(), count: full([], scores.numel, { dtype: scores.dtype, device: scores.device }) };
  const m = mask.to({ dtype: scores.dtype, device: scores.device });
  return { loss: sp.mul(m).sum(), count: m.sum() };
}

/** 1 − I [B, B] in the dtype and device of `like`. */
function offDiagonal(b: number, like: Tensor): Tensor {
  const i = arange(0, b, 1, { device: like.device });
  return i.unsqueeze(1).ne(i.unsqueeze(0)).to(like.dtype);
}

/** The STAR / in-batch loss (scalar). */
export function inbatchLoss(x: InbatchLossInput): Tensor {
  return tidy(() => {
    const q = scoreDtype(x.queries);
    const batch = q.matmul(scoreDtype(x.positives).t()); // [B, B]
    const pos = diagonalColumn(batch); // [B, 1]
    const relMask = x.relMask ?? offDiagonal(q.size(0), batch);
    const first = maskedPairSum(batch, pos, relMask);
    if (!x.hard) return first.loss.div(first.count);
    const second = maskedPairSum(q.matmul(scoreDtype(x.hard).t()), pos, x.hardMask); // [B, K]
    return first.loss.add(second.loss).div(first.count.add(second.count));
  });
}

/**
 * DRhard's rel_pair_mask / hard_pair_mask: [B, N] float32 with 0 where docs[j] is relevant to query i
 * (`relevant[i]` holds its relevant doc offsets), else 1.
 */
export function pairMask(relevant: ReadonlyArray<ReadonlySet<number>>, docs: ArrayLike<number>): Tensor {
  const B = relevant.length;
  const N = docs.length;
  const m = new Float32Array(B * N).fill(1);
  for (let i = 0; i < B; i++) {
    const rel = relevant[i] as ReadonlySet<number>;
    for (let j = 0; j < N; j++) if (rel.has(docs[j] as number)) m[i * N + j] = 0;
  }
  return tensor(m, { shape: [B, N] });
}
