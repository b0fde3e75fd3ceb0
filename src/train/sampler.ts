// Data order for training: a fresh seeded permutation of the training queries per epoch, cut into batches; its
// whole state is (epoch, position), so a checkpoint resumes mid-epoch on exactly the next batch.
import { Rng } from '../util/rng.ts';

export interface OrderState {
  epoch: number;
  /** Index into this epoch's permutation of the next query to visit. */
  position: number;
}

export class EpochOrder {
  readonly size: number;
  readonly batchSize: number;
  private readonly seed: number;
  private perm: Int32Array;
  private epochOf: number;
  private pos: number;

  constructor(size: number, batchSize: number, seed: number, state: OrderState = { epoch: 0, position: 0 }) {
    if (!(size > 0)) throw new RangeError('EpochOrder: no training queries');
    this.size = size;
    this.batchSize = batchSize;
    this.seed = seed;
    this.epochOf = state.epoch;
    this.pos = state.position;
    this.perm = this.permutation(state.epoch);
  }

  /** Steps in one epoch; the last batch of an epoch may be smaller (DRhard keeps it: drop_last is off). */
  get stepsPerEpoch(): number {
    return Math.ceil(this.size / this.batchSize);
  }

  get epoch(): number {
    return this.epochOf;
  }

  // A fork per epoch, not one running generator: epoch e's order depends on (seed, e) only.
  private permutation(epoch: number): Int32Array {
    const idx = Array.from({ length: this.size }, (_, i) => i);
    new Rng(this.seed).fork(`order:${epoch}`).shuffle(idx);
    return Int32Array.from(idx);
  }

  /** Indices (into the training-query list) of the next batch. */
  next(): number[] {
    if (this.pos >= this.size) {
      this.epochOf += 1;
      this.pos = 0;
      this.perm = this.permutation(this.epochOf);
    }
    const n = Math.min(this.batchSize, this.size - this.pos);
    const out = Array.from(this.perm.subarray(this.pos, this.pos + n));
    this.pos += n;
    return out;
  }

  state(): OrderState {
    return { epoch: this.epochOf, position: this.pos };
  }
}
