// Fused exact top-k search kernels: a low-precision (bfloat16) or float32 GEMM screens the documents, and every document that
// can still be in the top-k is rescored exactly. No N-API here; addon.cpp converts arguments.
#pragma once
#include <torch/torch.h>

#include <string>
#include <tuple>
#include <vector>

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
// `floor` (optional, float32 [B], each finite or -inf): a score the caller already holds k results at or above, from
// documents at lower offsets (sharded search's earlier shards); documents that cannot reach it are dropped early, so
// a row may return fewer than k (the rest -inf / -1). sgemmScreenedTopk and int8ScreenedTopk take it.
std::tuple<at::Tensor, at::Tensor, at::Tensor> sgemmScreenedTopk(const at::Tensor& q, const at::Tensor& docs,
                                                                const at::Tensor& errAbs, int64_t k, int64_t chunk,
                                                                const at::Tensor& floor = at::Tensor());

// Shared by search_core.cpp and quantize_core.cpp: rows per int8 document panel (two zmm of 16 rows × 4 dims, or
// four ymm of 8), and the check of a 2-dimensional CPU matrix argument of a given dtype (`name` leads the message).
constexpr int64_t kInt8PanelRows = 32;
void checkMatrix(const at::Tensor& t, at::ScalarType type, const char* name);

// Whether this libtorch's bfloat16 GEMM of an m×k by k×n product accumulates in float32 here (oneDNN path, checked
// once against float64); screenedTopk screens through sgemm where it does not.
bool bf16GemmIsFloat32Accumulating(int64_t m, int64_t k, int64_t n);

// The int8 screens this CPU runs, fastest first: "avx512-vnni" (512-bit vpdpbusd), "avx-vnni" (256-bit VEX
// vpdpbusd), "avx512vl-vnni" (the same 256-bit kernel, EVEX encoded: how AVX-512 CPUs test it), "avx2" (vpmaddubsw
// + vpmaddwd; queries coded in 7 bits). Empty without AVX2 and FMA.
std::vector<std::string> int8ScreenIsas();
// Whether any int8 screen runs here.
bool int8ScreenSupported();

// Symmetric per-row int8 codes of float32 rows x [n, D] with L = levels (1…127; 127 for panels): s = max|x|/L
// (float32, rounded once from the float64 quotient), x̂ = nearbyint(x·fl(1/s)) clamped to [-L, L] (all zero for a
// zero row). D is padded to Dp = D rounded up to 4 with zero codes. Non-finite values are refused.
//   panels = false (queries): codes [n, Dp] uint8 holding x̂ + L + 1 (x̂ + 128 at L = 127: VNNI multiplies unsigned
//     by signed bytes; L = 63 keeps every byte <= 127 for vpmaddubsw's saturating int16 pair sums);
//   panels = true (documents): codes [Np·Dp] int8, Np = n rounded up to 32, in panels of 32 rows: byte e of dims
//     4g…4g+3 of row 32p + t sits at 32p·Dp + 128g + 4t + e (one zmm load holds 16 rows × 4 dims). Padding rows
//     are zero, with scale 0 and sum 0.
// Returns codes, scale [n or Np] float32, sum [n or Np] int32 (Σx̂), and norms [n, 3] float64:
// ||x||, ||x − s·x̂|| and ||s·x̂||, each computed in float64 (relative error below D·2^-52).
// Runs on every CPU (native/src/quantize_core.cpp: AVX-512F, AVX2 + FMA and generic paths, bit-identical outputs;
// DRHARD_INT8_QUANT_ISA=generic|avx2|avx512 forces one, read on every call).
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> int8Quantize(const at::Tensor& x, bool panels,
                                                                        int64_t levels = 127);

// The screened search with an int8 screen: VNNI int32 dot products of the codes (exact), scaled to float32
// s = fl(fl(q̂·d̂)·fl(s_q·s_d)) and compared in registers; documents that can still reach the top-k are rescored as
// screenedTopk does. qCodes/qScale from int8Quantize(q, false), dCodes/dScale/dSum from int8Quantize(docs, true).
// `isa` is one of int8ScreenIsas(); query bytes hold q̂ + qOffset (128 for "avx512-vnni"; the others take any
// offset <= 128, "avx2" also bytes <= 127). The caller's error model, per query b and document d:
//   |s − rescored score| <= qErr[3b]·dErr[d] + qErr[3b+1]·dErr[Np + d] + tinyAbs + errRel·|s|
// (qErr [3B], dErr [2Np] float32, >= 0). At D >= 256 the survivors are refined with qCodes2/qScale2, the codes of
// each query's screen residual q − s_q·q̂ (int8Quantize with the same levels, bytes + qOffset), whose own residual's
// norm is qErr[3b+2]: |s_d·(s_q·q̂·d̂ + s2·q̂2·d̂) − rescored score| <= qErr[3b]·dErr[d] + qErr[3b+2]·dErr[Np + d] +
// tinyAbs. Each document's bounds are evaluated with upward/downward rounding, so the result is the exact top-k
// whenever the model holds. D <= 65536 (the int32 sums cannot overflow). A non-empty `rowFile` names a file of the
// rows (offset order, from byte 0; float16 if rowFileHalf, widened to float32) that rescoring reads them from, a
// pread per row: `docs` then only gives [N, D] and is not read (an expanded view will do).
std::tuple<at::Tensor, at::Tensor, at::Tensor> int8ScreenedTopk(const at::Tensor& q, const at::Tensor& docs,
                                                               const at::Tensor& qCodes, const at::Tensor& qScale,
                                                               const at::Tensor& qErr, const at::Tensor& qCodes2,
                                                               const at::Tensor& qScale2, const at::Tensor& dCodes,
                                                               const at::Tensor& dScale, const at::Tensor& dSum,
                                                               const at::Tensor& dErr, double tinyAbs, double errRel,
                                                               int64_t k, const std::string& isa, int64_t qOffset,
                                                               const at::Tensor& floor = at::Tensor(),
                                                               const std::string& rowFile = std::string(),
                                                               bool rowFileHalf = false);

}  // namespace drhard
