// Linear warmup then linear decay to 0, as transformers.get_linear_schedule_with_warmup (a LambdaLR: the lr of
// update k, counting from 0, is base_lr * factor(k), so the first update has lr 0 when warmup > 0).
import type { AdamLike } from './optimizer.ts';

export interface ScheduleState {
  lastStep: number;
  baseLrs: number[];
  warmupSteps: number;
  totalSteps: number;
}

export class LinearSchedule {
  readonly optimizer: AdamLike;
  readonly warmupSteps: number;
  readonly totalSteps: number;
  baseLrs: number[];
  lastStep = 0;

  constructor(optimizer: AdamLike, opts: { warmupSteps: number; totalSteps: number }) {
    if (!(opts.warmupSteps >= 0) || !(opts.totalSteps >= 0)) throw new RangeError('warmupSteps and totalSteps must be >= 0');
    this.optimizer = optimizer;
    this.warmupSteps = opts.warmupSteps;
    this.totalSteps = opts.totalSteps;
    this.baseLrs = optimizer.groups.map((g) => g.lr);
    this.apply();
  }

  factor(step: number): number {
    if (step < this.warmupSteps) return step / Math.max(1, this.warmupSteps);
    return Math.max(0, (this.totalSteps - step) / Math.max(1, this.totalSteps - this.warmupSteps));
  }

  /** Call after each optimizer.step(). */
  step(): void {
    this.lastStep += 1;
    this.apply();
  }

  /** The lr the next update of group 0 will use. */
  get lr(): number {
    return this.optimizer.groups[0]?.lr ?? 0;
  }

  private apply(): void {
    const f = this.factor(this.lastStep);
    this.optimizer.groups.forEach((g, i) => (g.lr = this.baseLrs[i]! * f));
  }

  stateDict(): ScheduleState {
    return { lastStep: this.lastStep, baseLrs: this.baseLrs.slice(), warmupSteps: this.warmupSteps, totalSteps: this.totalSteps };
  }

  loadStateDict(s: ScheduleState): void {
    if (s.baseLrs.length !== this.optimizer.groups.length) {
      throw new Error(`schedule state has ${s.baseLrs.length} groups, the optimizer has ${this.optimizer.groups.length}`);
    }
    this.baseLrs = s.baseLrs.slice();
    this.lastStep = s.lastStep;
    this.apply();
  }
}
