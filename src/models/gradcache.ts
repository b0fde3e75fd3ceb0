// Gradient caching (Gao et al. 2021, "Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup"):
// a large in-batch-negative step in bounded memory. Embed everything without a graph, backprop the loss into the
// embeddings only, then re-encode chunk by chunk with a graph and push the cached embedding gradients through.
// Parameter gradients equal the plain step's; activation memory is one chunk's.
import { cat, manualSeed, noGrad, randint, tidy, type Tensor } from '../tensor/index.ts';
import type { DotModel, TokenBatch } from './dual.ts';

export interface StepInputs {
  /** Query batches, encoded in order; their embeddings are passed to the loss as `queries`. */
  queryBatches: TokenBatch[];
  /** Document batches (positives, hard negatives, …), passed to the loss as `docs`. */
  docBatches: TokenBatch[];
}

/** The loss over embeddings: one [B_i, D] tensor per input batch, in input order; returns a scalar. */
export type EmbeddingLoss = (queries: Tensor[], docs: Tensor[]) => Tensor;

interface Chunk {
  batch: number;
  start: number;
  length: number;
  seed: number;
}

/**
 * Row chunks of every batch with a dropout seed each. Both passes of a chunk reseed libtorch's generators (CPU and
 * CUDA) with the chunk's seed, so dropout masks agree between the graph-free and the graph pass. The seeds are
 * drawn from the current generator, so a seeded run stays reproducible.
 */
function plan(batches: TokenBatch[], chunkSize: number, training: boolean): Chunk[] {
  if (!(Number.isInteger(chunkSize) && chunkSize > 0)) throw new RangeError(`chunkSize must be a positive integer, got ${chunkSize}`);
  const chunks: Chunk[] = [];
  batches.forEach((b, batch) => {
    const rows = b.ids.size(0);
    for (let start = 0; start < rows; start += chunkSize) chunks.push({ batch, start, length: Math.min(chunkSize, rows - start), seed: 0 });
  });
  if (training) {
    const seeds = tidy(() => randint(0, 2 ** 31 - 1, [chunks.length]).toArray());
    chunks.forEach((c, i) => (c.seed = seeds[i]!));
  }
  return chunks;
}

function encodeChunk(model: DotModel, b: TokenBatch, c: Chunk): Tensor {
  if (model.training) manualSeed(c.seed);
  return model.encode(b.ids.narrow(0, c.start, c.length), b.mask.narrow(0, c.start, c.length));
}

function encodeAll(model: DotModel, batches: TokenBatch[], chunks: Chunk[]): Tensor[] {
  return batches.map((b, i) => {
    const parts = chunks.filter((c) => c.batch === i).map((c) => encodeChunk(model, b, c));
    return parts.length === 1 ? parts[0]! : cat(parts, 0);
  });
}

/**
 * The ordinary step, for comparison and small batches: encode with a graph, loss, backward. With `chunkSize`
 * the batches are encoded in the same chunks (and dropout seeds) as `gradCacheStep`, which it then matches
 * exactly even with dropout on. Accumulates into parameter gradients; returns the loss value.
 */
export function plainStep(model: DotModel, inputs: StepInputs, lossFn: EmbeddingLoss, chunkSize = Number.MAX_SAFE_INTEGER): number {
  return tidy(() => {
    const batches = [...inputs.queryBatches, ...inputs.docBatches];
    const embs = encodeAll(model, batches, plan(batches, chunkSize, model.training));
    const nq = inputs.queryBatches.length;
    const loss = lossFn(embs.slice(0, nq), embs.slice(nq));
    loss.backward();
    return loss.item();
  });
}

/**
 * One gradient-cached step: accumulates into parameter gradients exactly what `plainStep` would (up to float
 * rounding), holding activations for at most `chunkSize` sequences at a time. Returns the loss value. The caller
 * clips and steps the optimizer afterwards, as for a plain step.
 */
export function gradCacheStep(model: DotModel, inputs: StepInputs, lossFn: EmbeddingLoss, chunkSize: number): number {
  return tidy(() => {
    const batches = [...inputs.queryBatches, ...inputs.docBatches];
    const chunks = plan(batches, chunkSize, model.training);
    // Pass 1: embeddings without a graph, as leaves that collect the loss gradient.
    const reps = noGrad(() => encodeAll(model, batches, chunks)).map((r) => r.setRequiresGrad(true));
    const nq = inputs.queryBatches.length;
    const loss = lossFn(reps.slice(0, nq), reps.slice(nq));
    loss.backward();
    const lossValue = loss.item();
    // Pass 2: per chunk, rebuild the graph and backprop the cached d(loss)/d(embedding) rows into the parameters.
    const grads = reps.map((r, i) => r.grad ?? (() => { throw new Error(`loss does not depend on input batch ${i}`); })());
    for (const c of chunks) {
      tidy(() => {
        const out = encodeChunk(model, batches[c.batch]!, c);
        out.backward(grads[c.batch]!.narrow(0, c.start, c.length));
      });
    }
    return lossValue;
  });
}
