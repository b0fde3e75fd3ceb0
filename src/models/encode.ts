// Batch encoding of token-id sequences: padding into TokenBatches and length-sorted batched inference.
import { noGrad, tensor, tidy } from '../tensor/index.ts';
import type { DotModel, TokenBatch } from './dual.ts';

/**
 * Right-pads sequences into ids [B, L] (padded with `padId`) and mask [B, L], with L the longest sequence.
 * Tensors go to `device`.
 */
export function padBatch(seqs: ArrayLike<number>[], padId: number, device = 'cpu'): TokenBatch {
  const len = seqs.reduce((m, s) => Math.max(m, s.length), 0);
  const ids = new BigInt64Array(seqs.length * len).fill(BigInt(padId));
  const mask = new BigInt64Array(seqs.length * len);
  seqs.forEach((s, i) => {
    for (let j = 0; j < s.length; j++) {
      ids[i * len + j] = BigInt(s[j]!);
      mask[i * len + j] = 1n;
    }
  });
  return {
    ids: tensor(ids, { shape: [seqs.length, len], device }),
    mask: tensor(mask, { shape: [seqs.length, len], device }),
  };
}

/**
 * DRhard's read-time truncation (dataset.SequenceDataset): keep the first token and the last one, cut the middle,
 * so `<s> … </s>` survives any maximum length >= 2.
 */
export function truncateIds(ids: ArrayLike<number>, maxLength: number): number[] {
  const a = Array.from(ids);
  if (a.length <= maxLength) return a;
  return [a[0]!, ...a.slice(1, maxLength - 1), a[a.length - 1]!];
}

/**
 * Embeds sequences in eval mode, `batchSize` at a time. Sequences are batched in length order so padding stays
 * small; the output rows follow the input order. Returns N × D float32 values row-major.
 */
export function encodeIds(model: DotModel, seqs: ArrayLike<number>[], opts: { batchSize?: number } = {}): Float32Array {
  const bs = opts.batchSize ?? 64;
  const dim = model.dim;
  const out = new Float32Array(seqs.length * dim);
  const order = seqs.map((_, i) => i).sort((a, b) => seqs[a]!.length - seqs[b]!.length);
  const wasTraining = model.training;
  model.eval();
  try {
    for (let s = 0; s < order.length; s += bs) {
      const rows = order.slice(s, s + bs);
      const emb = tidy(() =>
        noGrad(() => {
          const b = padBatch(rows.map((i) => seqs[i]!), model.config.padTokenId, model.device);
          return model.encode(b.ids, b.mask).to('float32').toFloat32Array();
        }),
      );
      rows.forEach((r, k) => out.set(emb.subarray(k * dim, (k + 1) * dim), r * dim));
    }
  } finally {
    model.train(wasTraining);
  }
  return out;
}
