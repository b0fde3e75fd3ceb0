// LAMB as DRhard's lamb.py (STAR's optimizer): no bias correction, weight decay added into the Adam step,
// trust ratio ||w||.clamp(0, 10) / ||adam_step|| (1 when either norm is 0).
import type { Tensor } from '../tensor/index.ts';
import { AdamLike, type MomentState, type ParamGroup } from './optimizer.ts';

export class Lamb extends AdamLike {
  readonly kind = 'lamb';
  protected readonly nativeKind = 1;

  protected nativeScalars(_st: MomentState, group: ParamGroup): [number, number] {
    return [group.lr, group.weightDecay];
  }

  protected update(p: Tensor, grad: Tensor, st: MomentState, group: ParamGroup): void {
    const [b1, b2] = this.betas;
    st.expAvg.mul_(b1).add_(grad, 1 - b1);
    st.expAvgSq.mul_(b2).addcmul_(grad, grad, 1 - b2);
    const weightNorm = p.pow(2).sum().sqrt().clamp(0, 10);
    // add_ on sqrt's fresh result: the same values as lamb.py's .add(eps), one parameter-sized allocation fewer.
    const adamStep = st.expAvg.div(st.expAvgSq.sqrt().add_(this.eps));
    if (group.weightDecay !== 0) adamStep.add_(p, group.weightDecay);
    const adamNorm = adamStep.pow(2).sum().sqrt();
    // Two host syncs per tensor, as in lamb.py; the float32 product below reproduces its rounding exactly.
    const trivial = weightNorm.item() === 0 || adamNorm.item() === 0;
    const alpha = trivial ? -group.lr : weightNorm.div(adamNorm).mul(-group.lr).item();
    p.add_(adamStep, alpha);
  }
}
