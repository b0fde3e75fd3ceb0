// Global gradient-norm clipping with torch.nn.utils.clip_grad_norm_ semantics (torch 1.13).
import { noGrad, stack, tidy, type Tensor } from '../tensor/index.ts';

/**
 * Scales all gradients by min(1, maxNorm / (total + 1e-6)), where total is the 2-norm of the per-tensor
 * 2-norms; returns total (before clipping). Parameters without a gradient are skipped.
 */
export function clipGradNorm(params: Tensor[], maxNorm: number): number {
  return tidy(() =>
    noGrad(() => {
      const grads = params.map((p) => p.grad).filter((g): g is Tensor => g !== null);
      if (grads.length === 0) return 0;
      const total = stack(grads.map((g) => g.norm(2))).norm(2);
      // `max_norm / t` in Python is t.reciprocal() * max_norm: same op order for the same rounding.
      const coef = total.add(1e-6).reciprocal().mul(maxNorm).clamp(null, 1.0);
      for (const g of grads) g.mul_(coef);
      return total.item();
    }),
  );
}

/** The global 2-norm of the gradients without changing them. */
export function gradNorm(params: Tensor[]): number {
  return tidy(() =>
    noGrad(() => {
      const grads = params.map((p) => p.grad).filter((g): g is Tensor => g !== null);
      return grads.length === 0 ? 0 : stack(grads.map((g) => g.norm(2))).norm(2).item();
    }),
  );
}
