// DRHARD_CLONES: one function compiled for x86-64-v4 (AVX-512), v3 (AVX2 + FMA) and baseline, picked at load time by
// the CPU (GCC's target_clones); plain code elsewhere. Elementwise loops use it to vectorize for the CPU they run on.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define DRHARD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define DRHARD_CLONES
#endif
