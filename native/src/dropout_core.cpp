// Dropout noise from splitmix64 as a counter-based generator: pair j of elements takes the two 32-bit halves of
// splitmix64(seed + (j+1)·γ), each half's top 24 bits compared with (1-p)·2^24. splitmix64's output sequence is
// exactly that finalizer over an arithmetic counter (it passes BigCrush), so any element range can be generated
// independently, vectorized and on every thread.
#include "dropout_core.h"
#include "clones.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <mutex>
#include <stdexcept>

namespace drhard {
namespace {

constexpr uint64_t kGamma = 0x9E3779B97F4A7C15ULL;

// Elements [2·b, 2·e) of `out` (n of them in all): scale where kept, else 0.
DRHARD_CLONES
void noiseKernel(float* __restrict out, int64_t n, int64_t b, int64_t e, uint64_t seed, uint32_t keepBits, float scale) {
  for (int64_t j = b; j < e; j++) {
    uint64_t z = seed + static_cast<uint64_t>(j + 1) * kGamma;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    const uint32_t lo = static_cast<uint32_t>(z) >> 8, hi = static_cast<uint32_t>(z >> 40);
    const int64_t i = 2 * j;
    out[i] = lo < keepBits ? scale : 0.0f;
    if (i + 1 < n) out[i + 1] = hi < keepBits ? scale : 0.0f;
  }
}

}  // namespace

at::Tensor dropoutNoise(const at::Tensor& like, double p, uint64_t seed) {
  if (!(p >= 0 && p < 1)) throw std::invalid_argument("dropout noise: p must be in [0, 1), got " + std::to_string(p));
  if (!like.device().is_cpu()) throw std::invalid_argument("dropout noise: CPU tensors only");
  const double keep = 1 - p;
  const auto keepBits = static_cast<uint32_t>(std::llround(keep * 16777216.0));
  // As at::dropout's noise.div_(1 - p) computes it in float32: 1 / float(1 - p).
  const float scale = 1.0f / static_cast<float>(keep);
  at::Tensor out = at::empty(like.sizes(), like.options().dtype(at::kFloat).memory_format(at::MemoryFormat::Contiguous));
  float* o = out.data_ptr<float>();
  const int64_t n = out.numel();
  at::parallel_for(0, (n + 1) / 2, 16384, [&](int64_t b, int64_t e) { noiseKernel(o, n, b, e, seed, keepBits, scale); });
  // Other dtypes (mixed precision): at::dropout's noise is 1 / (1 - p) rounded to that dtype, as this cast gives.
  return like.scalar_type() == at::kFloat ? out : out.to(like.scalar_type());
}

uint64_t drawSeed() {
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get<at::CPUGeneratorImpl>()->random64();
}

}  // namespace drhard
