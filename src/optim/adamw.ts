// AdamW as transformers.optimization.AdamW (correct_bias=True), the optimizer of DRhard's ADORE and of HF's
// Trainer in DRhard's era. Not torch.optim.AdamW: eps is added to sqrt(v) before bias correction, and the
// decoupled decay is applied after the Adam update (to the updated weights).
import type { Tensor } from '../tensor/index.ts';
import { AdamLike, type AdamLikeOptions, type GroupInit, type MomentState, type ParamGroup } from './optimizer.ts';

export class AdamW extends AdamLike {
  readonly kind = 'adamw';
  protected readonly nativeKind = 0;
  readonly correctBias: boolean;

  constructor(params: GroupInit[] | Array<[string, Tensor]>, opts: AdamLikeOptions & { correctBias?: boolean }) {
    super(params, opts);
    this.correctBias = opts.correctBias ?? true;
  }

  protected nativeScalars(st: MomentState, group: ParamGroup): [number, number] {
    return [this.stepSize(st, group), group.weightDecay > 0 ? -group.lr * group.weightDecay : 0];
  }

  private stepSize(st: MomentState, group: ParamGroup): number {
    const [b1, b2] = this.betas;
    let stepSize = group.lr;
    if (this.correctBias) stepSize = (stepSize * Math.sqrt(1 - b2 ** st.step)) / (1 - b1 ** st.step);
    return stepSize;
  }

  protected update(p: Tensor, grad: Tensor, st: MomentState, group: ParamGroup): void {
    const [b1, b2] = this.betas;
    st.expAvg.mul_(b1).add_(grad, 1 - b1);
    st.expAvgSq.mul_(b2).addcmul_(grad, grad, 1 - b2);
    const denom = st.expAvgSq.sqrt().add_(this.eps);
    p.addcdiv_(st.expAvg, denom, -this.stepSize(st, group));
    if (group.weightDecay > 0) p.add_(p, -group.lr * group.weightDecay);
  }
}
