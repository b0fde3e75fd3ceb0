// Fused exact top-k search kernels: a low-precision (bfloat16) or float32 GEMM screens the documents, and every document that
// can still be in the top-k is rescored exactly. No N-API here; addon.cpp converts arguments.
#pragma once
#include <torch/torch.h>

#include <tuple>

namespace drhard {

// Top-k of q·docsᵀ per query row, best first, ties to the lower doc offset.
//   q [B, D] float32, docs [N, D] float32 (row-contiguous): the exact side, rescored in float64 and rounded to
//     float32 (independent of BLAS and summation order);
//   qLo [B, D], docsLo [N, D] bfloat16: the screening side. docsLo may be docs shifted by a constant vector, which
//     moves all of a query's scores by the same amount and so keeps its ranking;
//   errAbs [B] float32, errRel: the caller's bound on the screening error, |screen − (float32 score − shift_b)| <=
//     errAbs[b] + errRel·|screen| for every document. Every document whose screen score could still reach the k-th
//     best is rescored, so the result is the exact top-k whenever the bound holds;
//   chunk: documents per screening GEMM (bounds the [B, chunk] bfloat16 score block).
// Returns scores [B, k] float32 and ids [B, k] int64 (rows with fewer than k documents end with -inf / -1), and
// rescored [B] int64: how many documents each query rescored (what the bound let through).
std::tuple<at::Tensor, at::Tensor, at::Tensor> screenedTopk(const at::Tensor& q, const at::Tensor& docs,
                                                           const at::Tensor& qLo, const at::Tensor& docsLo,
                                                           const at::Tensor& errAbs, double errRel, int64_t k,
                                                           int64_t chunk);

// The same search screened by a float32 sgemm of q and docs themselves (no copy): for CPUs without fast bfloat16.
// errAbs [B]: the caller's bound |sgemm score − rescored score| <= errAbs[b] (float32 summation in any order).
std::tuple<at::Tensor, at::Tensor, at::Tensor> sgemmScreenedTopk(const at::Tensor& q, const at::Tensor& docs,
                                                                const at::Tensor& errAbs, int64_t k, int64_t chunk);

// Whether this libtorch's bfloat16 GEMM of an m×k by k×n product accumulates in float32 here (oneDNN path, checked
// once against float64); screenedTopk screens through sgemm where it does not.
bool bf16GemmIsFloat32Accumulating(int64_t m, int64_t k, int64_t n);

}  // namespace drhard
