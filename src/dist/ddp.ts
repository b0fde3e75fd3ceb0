// Data-parallel training on a ProcessGroup: each rank's slice of the global batch, gradients averaged with bucketed
// all-reduce, cross-rank in-batch negatives (Tevatron's negatives_x_device), agreement on stop/loss per step, and
// the per-rank RNG states a checkpoint carries.
//
// Semantics (documented in the README):
// - The global batch is --batch-size queries drawn exactly as in one process (same epoch order and the same sampling
//   RNG on every rank); rank r takes the contiguous slice [⌊rB/W⌋, ⌊(r+1)B/W⌋) of its queries with their positives
//   and negatives.
// - With cross-rank negatives every rank gathers every rank's query and document embeddings, computes the loss of
//   the whole global batch (so in-batch negatives, masks and the normalisation are those of one process with batch B)
//   and backpropagates world × that loss through its own slice; averaging the gradients over ranks then gives
//   exactly the one-process gradient: Σ_r ∂L/∂e_r · ∂e_r/∂θ = ∂L/∂θ.
// - Without it each rank's loss is its slice's own loss (in-batch negatives from the slice only) and the averaged
//   gradient equals one process taking the same batch in W micro-batches (`--micro-batches W`).
// - Backward does not overlap the all-reduce: autograd runs inside one synchronous native call and libtorch 1.13's
//   C++ API gives JS no per-parameter hook, so gradients are reduced in ~25 MiB buckets after backward returns.
// - Every rank seeds libtorch's generator with --seed (dropout masks are per rank, as with PyTorch DDP and one seed);
//   checkpoints keep every rank's generator state.
import { cat, noGrad, tensor, Tensor, zeros } from '../tensor/index.ts';
import { DrhardInputError } from '../util/errors.ts';
import type { ProcessGroup } from './group.ts';

/** What training needs from the process group (ProcessGroup implements it). */
export type Collective = Pick<ProcessGroup, 'rank' | 'world' | 'allReduce' | 'allGather' | 'allGatherNumbers' | 'assertSame' | 'barrier' | 'broadcast' | 'storeSet' | 'waitFor'>;

export interface DistTrainContext {
  pg: Collective;
  /** Gather embeddings from every rank for in-batch negatives (gradient flows to the local slice). */
  crossRankNegatives: boolean;
  /** Gradient bucket size for the all-reduce, bytes (PyTorch DDP: 25 MiB). */
  bucketBytes?: number;
}

/** Rank r's contiguous part [start, end) of n items split over `world` ranks as evenly as possible. */
export function sliceRange(n: number, rank: number, world: number): [number, number] {
  return [Math.floor((rank * n) / world), Math.floor(((rank + 1) * n) / world)];
}

/** Rank r's queries of a batch with their positives and (grouped-by-query) negatives. */
export function sliceBatch<B extends { queries: number[]; positives: number[]; negatives: number[] }>(batch: B, start: number, end: number): B {
  const per = batch.queries.length > 0 ? batch.negatives.length / batch.queries.length : 0;
  if (!Number.isInteger(per)) throw new Error('negatives are not grouped by query');
  return {
    ...batch,
    queries: batch.queries.slice(start, end),
    positives: batch.positives.slice(start, end),
    negatives: batch.negatives.slice(start * per, end * per),
  };
}

/**
 * Every rank's rows of `local` concatenated in rank order; this rank's rows are `local` itself, so gradients flow
 * back into its own encoder pass (the other ranks' rows are constants here and get their gradient on their rank).
 */
export function gatherWithGrad(pg: Collective, local: Tensor): Tensor {
  const parts = pg.allGather(local);
  const withLocal = parts.map((p, r) => (r === pg.rank ? local : p));
  const out = cat(withLocal, 0);
  for (const [r, p] of parts.entries()) if (r !== pg.rank) p.dispose();
  parts[pg.rank]?.dispose();
  return out;
}

/**
 * Averages the gradients of `params` over ranks in place: flattened into buckets of at most `bucketBytes`, one
 * all-reduce each. A parameter without a gradient on every rank keeps none (as one process would); one with a
 * gradient on some ranks only counts zeros for the others.
 */
export function averageGradients(pg: Collective, params: Tensor[], bucketBytes = 25 * 2 ** 20): void {
  if (pg.world === 1) return;
  noGrad(() => {
    const grads = params.map((p) => p.grad);
    const has = tensor(grads.map((g) => (g === null ? 0 : 1)), { dtype: 'float32' });
    pg.allReduce(has, 'max');
    const any = Array.from(has.toFloat32Array()).map((v) => v > 0);
    has.dispose();
    const work: Array<{ p: Tensor; g: Tensor }> = [];
    for (const [i, p] of params.entries()) {
      if (!any[i]) continue;
      let g = grads[i] ?? null;
      if (g === null) {
        g = zeros(p.shape, { dtype: p.dtype, device: p.device });
        p.setGrad(g);
      }
      work.push({ p, g });
    }
    let bucket: Array<{ p: Tensor; g: Tensor }> = [];
    let bytes = 0;
    const flush = (): void => {
      if (bucket.length === 0) return;
      const flat = cat(bucket.map((w) => w.g.reshape([-1])), 0);
      pg.allReduce(flat, 'avg');
      let off = 0;
      for (const w of bucket) {
        const n = w.g.numel;
        const part = flat.narrow(0, off, n).reshape(w.g.shape);
        w.g.copy_(part);
        part.dispose();
        off += n;
      }
      flat.dispose();
      bucket = [];
      bytes = 0;
    };
    for (const w of work) {
      const b = w.g.numel * (w.g.dtype === 'float64' ? 8 : w.g.dtype === 'float16' || w.g.dtype === 'bfloat16' ? 2 : 4);
      if (bytes + b > bucketBytes && bucket.length > 0) flush();
      bucket.push(w);
      bytes += b;
      // Buckets hold one dtype: a change of dtype starts a new one.
      if (bucket.length > 1 && bucket[0]?.g.dtype !== w.g.dtype) {
        const last = bucket.pop() as { p: Tensor; g: Tensor };
        flush();
        bucket.push(last);
        bytes = b;
      }
    }
    flush();
    for (const g of grads) g?.dispose();
  });
}

/** The mean over ranks of each value (a loss, a metric), one all-reduce for all of them. */
export function meanOverRanks(pg: Collective, values: number[]): number[] {
  if (pg.world === 1) return values;
  const t = tensor(new Float64Array(values), { dtype: 'float64' });
  pg.allReduce(t, 'avg');
  const out = Array.from(t.toFloat64Array());
  t.dispose();
  return out;
}

/** True on every rank when any rank asks to stop (a signal reached some ranks only). */
export function anyRank(pg: Collective, flag: boolean): boolean {
  if (pg.world === 1) return flag;
  const t = tensor([flag ? 1 : 0], { dtype: 'float32' });
  pg.allReduce(t, 'max');
  const v = t.item() > 0;
  t.dispose();
  return v;
}

/** Every rank's string (RNG states), in rank order. */
export function gatherStrings(pg: Collective, s: string): string[] {
  const bytes = Buffer.from(s, 'utf8');
  const t = tensor(new Uint8Array(bytes), { dtype: 'uint8' });
  const parts = pg.allGather(t);
  t.dispose();
  return parts.map((p) => {
    const out = Buffer.from(new Uint8Array(p.toArray())).toString('utf8');
    p.dispose();
    return out;
  });
}

/** Refuses a checkpoint written by a different number of ranks (its data slices and RNG streams would not match). */
export function checkWorldSize(saved: { dist?: { world: number } | undefined }, world: number, dir: string): void {
  const savedWorld = saved.dist?.world ?? 1;
  if (savedWorld !== world) {
    throw new DrhardInputError(
      `checkpoint was written by a run with ${savedWorld} rank${savedWorld > 1 ? 's' : ''}, this run has ${world}: resume with the same world size ` +
        `(drhard launch --nproc-per-node ${savedWorld}${savedWorld === 1 ? ', or without launch' : ''}); a different one would change every rank's data slice and RNG stream`,
      { file: dir },
    );
  }
}

/**
 * Refuses batches that would leave a rank without queries (a global batch, or an epoch's smaller last batch, of
 * fewer than `world` rows): STAR-style methods and pretrain encode their slice, and an empty one has nothing to
 * encode. ADORE takes empty slices (the rank only joins the search), so it is not checked.
 */
export function checkBatchSlices(rows: number, batchSize: number, world: number, what: string): void {
  const last = rows % batchSize;
  const smallest = rows < batchSize ? rows : last === 0 ? batchSize : last;
  if (smallest >= world) return;
  throw new DrhardInputError(
    `--batch-size ${batchSize} over ${rows} ${what} gives a batch of ${smallest}, which leaves some of the ${world} ranks no ${what}; ` +
      `use a --batch-size of at least ${world} whose epoch remainder (${rows} mod batch size) is 0 or at least ${world}`,
    { field: 'batchSize' },
  );
}
