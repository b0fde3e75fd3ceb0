// STAR-style methods (inbatch, randneg, bm25neg, star): DRhard's per-visit sampling and the encode → loss → backward step.
import { tensor, tidy, type Tensor } from '../tensor/index.ts';
import type { DotModel, TokenBatch } from '../models/dual.ts';
import { gradCacheStep } from '../models/gradcache.ts';
import type { TokenStore } from '../data/tokenstore.ts';
import { inbatchLoss, pairMask } from '../losses/star.ts';
import { randnegLoss } from '../losses/randneg.ts';
import { listwiseLoss } from '../losses/listwise.ts';
import { DrhardInputError } from '../util/errors.ts';
import type { Rng } from '../util/rng.ts';
import type { TrainData } from './data.ts';
import type { Method } from './options.ts';

export type PairMethod = Exclude<Method, 'adore'>;

/** One step's documents: all offsets, so masks and error messages can name them. */
export interface PairBatch {
  /** [B] query offsets. */
  queries: number[];
  /** [B] one positive per query, drawn afresh at each visit. */
  positives: number[];
  /** [B · n] extra negatives grouped by query (hard for star/bm25neg, random for randneg; none for inbatch). */
  negatives: number[];
}

/**
 * Draws a batch as DRhard's datasets do, query by query: `random.choice` of a positive, then `random.sample` of
 * `hardNum` docs from the query's mined list (star, bm25neg) or `randNum` docs from the whole corpus (randneg).
 */
export function samplePairBatch(
  data: TrainData,
  queries: number[],
  rng: Rng,
  opts: { method: PairMethod; hardNum: number; randNum: number },
): PairBatch {
  const positives: number[] = [];
  const negatives: number[] = [];
  for (const q of queries) {
    const pos = data.positives.row(q);
    positives.push(pos[rng.int(pos.length)] as number);
    if (opts.method === 'star' || opts.method === 'bm25neg') {
      const list = (data.negatives as NonNullable<TrainData['negatives']>).row(q);
      for (const i of rng.sample(list.length, opts.hardNum)) negatives.push(list[i] as number);
    } else if (opts.method === 'randneg') {
      negatives.push(...rng.sample(data.docs.count, opts.randNum));
    }
  }
  return { queries, positives, negatives };
}

/** Refuses training queries whose negative list is shorter than hardNum (random.sample would raise mid-run). */
export function checkNegatives(data: TrainData, hardNum: number, file: string): void {
  const neg = data.negatives;
  if (neg === null) return;
  const short: number[] = [];
  for (const q of data.queryRows) if (neg.size(q) < hardNum) short.push(q);
  if (short.length > 0) {
    const names = short.slice(0, 5).map((q) => `${data.queryId(q)} (${neg.size(q)})`);
    throw new DrhardInputError(
      `${short.length} training queries have fewer than ${hardNum} negatives, e.g. ${names.join(', ')}; mine deeper or lower --hard-num`,
      { file },
    );
  }
}

/** A padded batch of token rows with DRhard's read-time truncation, as int64 tensors on `device`. */
export function tokenBatch(store: TokenStore, rows: readonly number[], maxLen: number, padId: number, padToMax: boolean, device: string): TokenBatch {
  const b = store.batch(rows, maxLen, padId, { padToMax });
  return tidy(() => ({
    ids: tensor(b.ids, { shape: [rows.length, b.L] }).to({ dtype: 'int64', device }),
    mask: tensor(b.mask, { shape: [rows.length, b.L] }).to({ dtype: 'int64', device }),
  }));
}

export interface PairStepOptions {
  method: PairMethod;
  /** DRhard's pairwise logistic loss, or softmax cross-entropy over all of the batch's negatives. */
  loss?: 'pairwise' | 'listwise';
  /** Listwise temperature on dot products. */
  temperature?: number;
  maxQueryLength: number;
  maxDocLength: number;
  padToMax: boolean;
  device: string;
  gradCacheChunk: number;
  /** Test hook: poison the loss (NaN) before backward. */
  poison?: boolean;
  /**
   * Data-parallel or micro-batched step (src/dist/ddp.ts): encode only `local`; `gather` (cross-rank negatives)
   * turns each local embedding matrix into every rank's, in the order of `batch`; backward of `scale` × loss.
   */
  shard?: { local: PairBatch; gather: ((t: Tensor) => Tensor) | null; scale: number };
}

/**
 * Forward and backward of one batch; gradients accumulate into the model's parameters. Encodes queries, then
 * positives, then negatives, in DRhard's order (so dropout draws line up with it). Returns the loss value.
 */
export function pairStep(model: DotModel, data: TrainData, batch: PairBatch, o: PairStepOptions): number {
  return tidy(() => {
    const rel = batch.queries.map((q) => new Set(data.positives.row(q)));
    const enc = o.shard?.local ?? batch;
    const q = tokenBatch(data.queries, enc.queries, o.maxQueryLength, data.padId, o.padToMax, o.device);
    const d = tokenBatch(data.docs, enc.positives, o.maxDocLength, data.padId, o.padToMax, o.device);
    const n = enc.negatives.length > 0 ? tokenBatch(data.docs, enc.negatives, o.maxDocLength, data.padId, o.padToMax, o.device) : null;
    const dev = (t: Tensor): Tensor => (o.device === 'cpu' ? t : t.to(o.device));
    const relMask = dev(pairMask(rel, batch.positives)); // [B, B]
    const negMask = n ? dev(pairMask(rel, batch.negatives)) : null; // [B, B·n]
    const lossOf = (qe: Tensor, docs: Tensor[]): Tensor => {
      const [pe, ne] = docs as [Tensor, Tensor | undefined];
      let loss: Tensor;
      if (o.loss === 'listwise') {
        // Rand-Neg keeps DRhard's semantics under either loss: random documents only, no in-batch negatives.
        loss = listwiseLoss({
          queries: qe,
          positives: pe,
          extra: ne ?? null,
          inbatch: o.method !== 'randneg',
          inbatchMask: relMask,
          extraMask: negMask,
          temperature: o.temperature ?? 1,
        });
      } else if (o.method === 'randneg') {
        loss = randnegLoss({ queries: qe, positives: pe, random: ne as Tensor, mask: negMask });
      } else {
        loss = inbatchLoss({ queries: qe, positives: pe, hard: ne ?? null, relMask, hardMask: negMask });
      }
      return o.poison === true ? loss.mul(Number.NaN) : loss;
    };
    const docBatches = n ? [d, n] : [d];
    if (o.gradCacheChunk > 0) {
      if (o.shard) throw new DrhardInputError('gradient caching cannot be combined with distributed training or micro-batches yet');
      return gradCacheStep(model, { queryBatches: [q], docBatches }, (qs, ds) => lossOf(qs[0] as Tensor, ds), o.gradCacheChunk);
    }
    let qe = model.encode(q.ids, q.mask);
    let de = docBatches.map((b) => model.encode(b.ids, b.mask));
    const gather = o.shard?.gather;
    if (gather) {
      qe = gather(qe);
      de = de.map(gather);
    }
    const loss = lossOf(qe, de);
    const scale = o.shard?.scale ?? 1;
    (scale === 1 ? loss : loss.mul(scale)).backward();
    return loss.item();
  });
}
