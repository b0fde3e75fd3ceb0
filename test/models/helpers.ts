// Shared helpers for model tests: fixture paths, DRhard's STAR loss, and tensor comparison.
import * as path from 'node:path';
import { arange, tidy, type Tensor } from '../../src/tensor/index.ts';

export const FIX = path.join(import.meta.dirname, '..', 'fixtures', 'models');

/**
 * DRhard inbatch_train written with softplus: -log_softmax([s_pos, s])[0] = softplus(s - s_pos). q [B, D],
 * d [B, D] positives, n [K, D] hard negatives shared across the batch; masks [B, B] and [B, K].
 */
export function starLoss(q: Tensor, d: Tensor, n: Tensor, rel: Tensor, hard: Tensor): Tensor {
  return tidy(() => {
    const b = q.size(0);
    const scores = q.matmul(d.t()); // [B, B]
    const pos = scores.gather(1, arange(0, b, 1, { device: q.device }).unsqueeze(1)); // [B, 1]
    const first = scores.sub(pos).softplus().mul(rel).sum();
    const second = q.matmul(n.t()).sub(pos).softplus().mul(hard).sum();
    return first.add(second).div(rel.sum().add(hard.sum()));
  });
}

/** max |a - b| */
export function maxAbsDiff(a: Tensor, b: Tensor): number {
  return tidy(() => a.to('float64').sub(b.to('float64')).abs().max().item());
}

/** max |a - b| / max |b| (0 when both are zero). */
export function maxRelDiff(a: Tensor, b: Tensor): number {
  return tidy(() => {
    const scale = b.to('float64').abs().max().item();
    const d = maxAbsDiff(a, b);
    return scale === 0 ? d : d / scale;
  });
}
