// Multi-tensor optimizer steps (HF AdamW, DRhard LAMB) and deferred gradient clipping: one call per training step.
// No N-API here: addon.cpp converts arguments; the JS optimizer computes every scalar hyperparameter (step sizes,
// decays) so the doubles are the ones the op-by-op path uses.
#pragma once
#include <torch/torch.h>
#include <vector>

namespace drhard {

struct OptimParam {
  at::Tensor p, m, v;
  // AdamW: step size (lr with bias correction) and decay factor -lr*wd (0 = none). LAMB: lr and wd.
  double a = 0, b = 0;
};

struct OptimHyper {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-6;
  // 1 - beta1, 1 - beta2 as the JS side computed them.
  double oneMinusBeta1 = 0.1, oneMinusBeta2 = 0.001;
};

// Scales every gradient by `coef` (a 0-dim tensor, undefined = no scaling) and applies the update. `fused` runs one
// pass per parameter over float32 contiguous CPU tensors with exactly the float operations, in the same order, of
// libtorch's kernels for the op-by-op path; anything else (other devices, dtypes, layouts) runs those ops.
void adamwStep(const std::vector<OptimParam>& ps, const OptimHyper& h, const at::Tensor& coef, bool fused);
// `scratch` holds at least 3 × the largest parameter's numel float32 elements (fused path only).
void lambStep(const std::vector<OptimParam>& ps, const OptimHyper& h, const at::Tensor& coef, bool fused, at::Tensor& scratch);

// torch.nn.utils.clip_grad_norm_'s total norm of `grads` and its coefficient min(1, maxNorm / (total + 1e-6)),
// both 0-dim float tensors; scaling is left to the caller.
std::pair<at::Tensor, at::Tensor> clipCoefficient(const std::vector<at::Tensor>& grads, double maxNorm);

}  // namespace drhard
