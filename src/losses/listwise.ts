// Listwise contrastive loss (InfoNCE / softmax cross-entropy), the Tevatron / DPR / Contriever objective, as an
// option beside DRhard's pairwise losses for the warmups, STAR and corpus pretraining.
//
//   s_ij = q_i · d_j / τ   over the batch's positives d (in-batch negatives), when `inbatch`
//   s_ik = q_i · n_k / τ   over the extra documents of the WHOLE batch (hard or random negatives, shared)
//   L = (1/B) Σ_i [ −s_ii + log( Σ_j m_ij e^{s_ij} + e^{s_ii} + Σ_k h_ik e^{s_ik} ) ]
//
// m (the in-batch mask) and h (the extra-document mask) are 0 where a document is relevant to q_i (false
// negatives are removed from the denominator; the positive itself always stays). Scores are plain dot products,
// so the objective ranks documents exactly as the dot-product search will. With DRhard's LayerNorm head the
// embeddings have norm ≈ √D, so τ = 0.05·D gives the familiar cosine/0.05 logits (`defaultTemperature`).
// Shapes: queries [B, D], positives [B, D], extra [K, D], inbatchMask [B, B], extraMask [B, K].
import { arange, cat, tidy, type Tensor } from '../tensor/index.ts';
import { diagonalColumn, scoreDtype } from './star.ts';

export interface ListwiseLossInput {
  /** [B, D] query embeddings. */
  queries: Tensor;
  /** [B, D] each query's positive. */
  positives: Tensor;
  /** [K, D] extra negatives shared across the batch (hard for STAR/BM25-Neg, random for Rand-Neg). */
  extra?: Tensor | null;
  /** Use the other queries' positives as negatives (false for Rand-Neg, which uses random documents only). */
  inbatch?: boolean;
  /** [B, B] 1 = d_j is a valid negative for q_i; the diagonal is ignored (the positive always counts). */
  inbatchMask?: Tensor | null;
  /** [B, K] 1 = n_k is a valid negative for q_i. */
  extraMask?: Tensor | null;
  /** Softmax temperature τ on the dot products. */
  temperature: number;
}

/** τ for embeddings of norm ≈ √D (LayerNorm head): dot/(0.05·D) ≈ cosine/0.05, Contriever's and SimCSE's setting. */
export function defaultTemperature(dim: number): number {
  return 0.05 * dim;
}

/** Where `mask` is 0, the logit becomes −∞ (removed from the softmax). */
function maskLogits(logits: Tensor, mask: Tensor | null | undefined): Tensor {
  if (!mask) return logits;
  return logits.maskedFill(mask.to({ dtype: 'float32', device: logits.device }).eq(0), Number.NEGATIVE_INFINITY);
}

/** The listwise loss (scalar), averaged over the B queries. */
export function listwiseLoss(x: ListwiseLossInput): Tensor {
  return tidy(() => {
    const q = scoreDtype(x.queries);
    const b = q.size(0);
    const batch = q.matmul(scoreDtype(x.positives).t()).div(x.temperature); // [B, B]
    const pos = diagonalColumn(batch); // [B, 1]
    const parts: Tensor[] = [];
    if (x.inbatch ?? true) {
      const i = arange(0, b, 1, { device: batch.device });
      const diag = i.unsqueeze(1).eq(i.unsqueeze(0)); // [B, B] bool
      // The diagonal enters through `pos`; every other column only if the mask allows it.
      const offDiag = maskLogits(batch, x.inbatchMask).maskedFill(diag, Number.NEGATIVE_INFINITY);
      parts.push(offDiag);
    }
    parts.push(pos);
    if (x.extra) parts.push(maskLogits(q.matmul(scoreDtype(x.extra).t()).div(x.temperature), x.extraMask)); // [B, K]
    const all = parts.length === 1 ? (parts[0] as Tensor) : cat(parts, 1);
    return all.logsumexp(1).sub(pos.squeeze(1)).mean();
  });
}
