// Multi-tensor AdamW/LAMB steps and clip coefficients. The fused loops reproduce libtorch 1.13's CPU kernels
// element by element, as measured against them: add-with-alpha is fma(other, alpha, self); addcmul's last
// multiply-add is contracted, fma(value*t1, t2, self); addcdiv is self + (value*t1)/t2, three roundings; pow(2) is
// x*x. So parameters and moments are bit-identical to the op-by-op path; test/optim/fused.test.ts checks that.
#include "optim_core.h"
#include "clones.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>

namespace drhard {
namespace {

// The addon's conversion of a JS number into a Scalar: integral values become int64 (same float after the cast).
at::Scalar scalarOf(double d) {
  if (std::nearbyint(d) == d && std::fabs(d) < 9.0e15) return at::Scalar(static_cast<int64_t>(d));
  return at::Scalar(d);
}
// A JS number operand of a binary op: a wrapped-number 0-dim tensor, as the addon passes it.
at::Tensor wrapped(double d) {
  at::Tensor s = c10::scalar_to_tensor(scalarOf(d));
  s.unsafeGetTensorImpl()->set_wrapped_number(true);
  return s;
}

bool fusable(const at::Tensor& p, const at::Tensor& g, const at::Tensor& m, const at::Tensor& v) {
  for (const at::Tensor* t : {&p, &g, &m, &v}) {
    if (!t->defined() || !t->device().is_cpu() || t->scalar_type() != at::kFloat || !t->is_contiguous() ||
        t->numel() != p.numel())
      return false;
  }
  return true;
}

// Splits [0, n) across libtorch's intra-op threads; elementwise, so the split does not change any value.
template <typename F>
void parallel(int64_t n, F f) {
  at::parallel_for(0, n, 16384, [&](int64_t b, int64_t e) { f(b, e); });
}

// β1, 1−β1, β2, 1−β2 and ε as float32, the precision the op-by-op path computes in.
struct Betas {
  float b1, a1, b2, a2, eps;
  explicit Betas(const OptimHyper& h)
      : b1(static_cast<float>(h.beta1)), a1(static_cast<float>(h.oneMinusBeta1)), b2(static_cast<float>(h.beta2)),
        a2(static_cast<float>(h.oneMinusBeta2)), eps(static_cast<float>(h.eps)) {}
};

// Element i's clip scaling (written back to the gradient, as g.mul_(coef) does) and moment update, shared by both
// kernels. Forced inline so that each target clone vectorizes it with its own instructions and the fma order stays.
template <bool Scale>
__attribute__((always_inline)) inline void clipAndMoments(float* __restrict g, float* __restrict m,
                                                          float* __restrict v, int64_t i, float c, const Betas& k,
                                                          float& mi, float& vi) {
  float gi = g[i];
  if (Scale) {
    gi = gi * c;
    g[i] = gi;
  }
  mi = std::fma(gi, k.a1, m[i] * k.b1);
  vi = std::fma(k.a2 * gi, gi, v[i] * k.b2);
  m[i] = mi;
  v[i] = vi;
}

// The loops take the clip and decay switches as template arguments: a branch inside the loop (a conditional
// store) kept GCC from vectorizing the LAMB loop once it had three outputs.
template <bool Scale, bool Decay>
__attribute__((always_inline)) inline void adamwLoop(float* __restrict p, float* __restrict g, float* __restrict m,
                                                     float* __restrict v, int64_t b, int64_t e, float c, const Betas& k,
                                                     float step, float wd) {
  for (int64_t i = b; i < e; i++) {
    float mi, vi;
    clipAndMoments<Scale>(g, m, v, i, c, k, mi, vi);
    float pi = p[i] + (step * mi) / (std::sqrt(vi) + k.eps);
    if (Decay) pi = std::fma(pi, wd, pi);
    p[i] = pi;
  }
}

DRHARD_CLONES
void adamwKernel(float* __restrict p, float* __restrict g, float* __restrict m, float* __restrict v, int64_t b,
                 int64_t e, bool scale, float c, Betas k, float step, bool decay, float wd) {
  if (scale && decay) adamwLoop<true, true>(p, g, m, v, b, e, c, k, step, wd);
  else if (scale) adamwLoop<true, false>(p, g, m, v, b, e, c, k, step, wd);
  else if (decay) adamwLoop<false, true>(p, g, m, v, b, e, c, k, step, wd);
  else adamwLoop<false, false>(p, g, m, v, b, e, c, k, step, wd);
}

template <bool Scale, bool Decay>
__attribute__((always_inline)) inline void lambLoop(const float* __restrict p, float* __restrict g,
                                                    float* __restrict m, float* __restrict v, float* __restrict a,
                                                    float* __restrict pSq, float* __restrict aSq, int64_t b,
                                                    int64_t e, float c, const Betas& k, float wd) {
  for (int64_t i = b; i < e; i++) {
    float mi, vi;
    clipAndMoments<Scale>(g, m, v, i, c, k, mi, vi);
    float ai = mi / (std::sqrt(vi) + k.eps);
    if (Decay) ai = std::fma(p[i], wd, ai);
    a[i] = ai;
    pSq[i] = p[i] * p[i];
    aSq[i] = ai * ai;
  }
}

DRHARD_CLONES
void lambKernel(const float* __restrict p, float* __restrict g, float* __restrict m, float* __restrict v,
                float* __restrict a, float* __restrict pSq, float* __restrict aSq, int64_t b, int64_t e, bool scale,
                float c, Betas k, bool decay, float wd) {
  if (scale && decay) lambLoop<true, true>(p, g, m, v, a, pSq, aSq, b, e, c, k, wd);
  else if (scale) lambLoop<true, false>(p, g, m, v, a, pSq, aSq, b, e, c, k, wd);
  else if (decay) lambLoop<false, true>(p, g, m, v, a, pSq, aSq, b, e, c, k, wd);
  else lambLoop<false, false>(p, g, m, v, a, pSq, aSq, b, e, c, k, wd);
}

DRHARD_CLONES
void axpyKernel(float* __restrict p, const float* __restrict a, float alpha, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; i++) p[i] = std::fma(a[i], alpha, p[i]);
}

// The op-by-op moment update, exactly as src/optim/*.ts issues it through the addon.
void moments(const at::Tensor& g, at::Tensor& m, at::Tensor& v, const OptimHyper& h) {
  m.mul_(at::Scalar(h.beta1)).add_(g, scalarOf(h.oneMinusBeta1));
  v.mul_(at::Scalar(h.beta2)).addcmul_(g, g, at::Scalar(h.oneMinusBeta2));
}

}  // namespace

void adamwStep(const std::vector<OptimParam>& ps, const OptimHyper& h, const at::Tensor& coef, bool fused) {
  at::NoGradGuard ng;
  const bool scale = coef.defined();
  const float c = scale ? coef.item<float>() : 1.0f;
  for (const auto& op : ps) {
    at::Tensor p = op.p, m = op.m, v = op.v;
    at::Tensor g = p.mutable_grad();
    if (!g.defined()) throw std::invalid_argument("optimizer step: a parameter has no gradient");
    if (fused && fusable(p, g, m, v)) {
      float *pp = p.data_ptr<float>(), *gp = g.data_ptr<float>(), *mp = m.data_ptr<float>(), *vp = v.data_ptr<float>();
      const Betas k(h);
      const float step = static_cast<float>(-op.a), wd = static_cast<float>(op.b);
      const bool decay = op.b != 0;
      parallel(p.numel(), [&](int64_t b, int64_t e) { adamwKernel(pp, gp, mp, vp, b, e, scale, c, k, step, decay, wd); });
      continue;
    }
    if (scale) g.mul_(coef);
    moments(g, m, v, h);
    at::Tensor denom = v.sqrt();
    denom.add_(scalarOf(h.eps), at::Scalar(static_cast<int64_t>(1)));
    p.addcdiv_(m, denom, at::Scalar(-op.a));
    if (op.b != 0) p.add_(p, scalarOf(op.b));
  }
}

void lambStep(const std::vector<OptimParam>& ps, const OptimHyper& h, const at::Tensor& coef, bool fused, at::Tensor& scratch) {
  at::NoGradGuard ng;
  const bool scale = coef.defined();
  const float c = scale ? coef.item<float>() : 1.0f;
  const at::Scalar two(2.0), zero(0.0), ten(10.0);
  for (const auto& op : ps) {
    at::Tensor p = op.p, m = op.m, v = op.v;
    at::Tensor g = p.mutable_grad();
    if (!g.defined()) throw std::invalid_argument("optimizer step: a parameter has no gradient");
    const double lr = op.a, wd = op.b;
    at::Tensor weightNorm, adamNorm, adamStep;
    const int64_t n = p.numel();
    if (fused && fusable(p, g, m, v) && scratch.defined() && scratch.is_contiguous() &&
        scratch.scalar_type() == at::kFloat && scratch.device().is_cpu() && scratch.numel() >= 3 * n) {
      // Adam step, p² and step² in one pass; the norms are libtorch sums over those buffers, so their reduction
      // order (and rounding) is the op-by-op path's.
      adamStep = scratch.narrow(0, 0, n);
      at::Tensor pSq = scratch.narrow(0, n, n), aSq = scratch.narrow(0, 2 * n, n);
      float *pp = p.data_ptr<float>(), *gp = g.data_ptr<float>(), *mp = m.data_ptr<float>(), *vp = v.data_ptr<float>();
      float *ap = adamStep.data_ptr<float>(), *ps = pSq.data_ptr<float>(), *as = aSq.data_ptr<float>();
      const Betas k(h);
      const float wdf = static_cast<float>(wd);
      parallel(n, [&](int64_t b, int64_t e) { lambKernel(pp, gp, mp, vp, ap, ps, as, b, e, scale, c, k, wd != 0, wdf); });
      weightNorm = pSq.sum().sqrt().clamp(zero, ten);
      adamNorm = aSq.sum().sqrt();
      const bool trivial = weightNorm.item<double>() == 0 || adamNorm.item<double>() == 0;
      const double alpha = trivial ? -lr : weightNorm.div(adamNorm).mul(wrapped(-lr)).item<double>();
      const float af = scalarOf(alpha).to<float>();
      parallel(n, [&](int64_t b, int64_t e) { axpyKernel(pp, ap, af, b, e); });
      continue;
    }
    if (scale) g.mul_(coef);
    moments(g, m, v, h);
    weightNorm = p.pow(two).sum().sqrt().clamp(zero, ten);
    at::Tensor denom = v.sqrt();
    denom.add_(scalarOf(h.eps), at::Scalar(static_cast<int64_t>(1)));
    adamStep = m.div(denom);
    if (wd != 0) adamStep.add_(p, scalarOf(wd));
    adamNorm = adamStep.pow(two).sum().sqrt();
    const bool trivial = weightNorm.item<double>() == 0 || adamNorm.item<double>() == 0;
    const double alpha = trivial ? -lr : weightNorm.div(adamNorm).mul(wrapped(-lr)).item<double>();
    p.add_(adamStep, scalarOf(alpha));
  }
}

std::pair<at::Tensor, at::Tensor> clipCoefficient(const std::vector<at::Tensor>& grads, double maxNorm) {
  at::NoGradGuard ng;
  std::vector<at::Tensor> norms;
  norms.reserve(grads.size());
  for (const auto& g : grads) norms.push_back(g.norm(at::Scalar(2.0)));
  at::Tensor total = at::stack(norms, 0).norm(at::Scalar(2.0));
  at::Tensor coef = total.add(wrapped(1e-6), at::Scalar(static_cast<int64_t>(1))).reciprocal().mul(wrapped(maxNorm));
  coef = coef.clamp(c10::nullopt, at::Scalar(1.0));
  return {total, coef};
}

}  // namespace drhard
