// Dropout noise for CPU training from a counter-based generator, in parallel (libtorch 1.13's bernoulli_ is serial).
#pragma once
#include <torch/torch.h>

#include <cstdint>

namespace drhard {

// A tensor shaped and typed like `like` (CPU), each element 1/(1-p) with probability 1-p, else 0: the noise
// at::dropout multiplies by. Element i depends only on (seed, i), so every thread split gives the same noise.
at::Tensor dropoutNoise(const at::Tensor& like, double p, uint64_t seed);

// One 64-bit draw from libtorch's default CPU generator: the seed of one dropout call, so that the generator's
// state (saved in checkpoints, reseeded by gradient caching) decides the masks.
uint64_t drawSeed();

}  // namespace drhard
