// int8Quantize (declared in search_core.h): the int8 screen's per-row symmetric codes, on every CPU, with an
// AVX-512 and an AVX2 path that give the generic path's outputs bit for bit.
//
// This file is compiled with -ffp-contract=off (native/CMakeLists.txt): the float64 norm sums below must be exactly
// the ones the first (AVX-512-only) implementation computed, whose compiled form added the products of dimensions
// 0 … 8⌊D/8⌋ − 1 with separate multiplies and adds and fused the last D mod 8 into FMAs. Contraction left to the
// compiler would make that depend on the target of each path; here every fused step is an explicit FMA.
#include "search_core.h"

#include <ATen/Parallel.h>

// DRHARD_QUANT_NO_X86 compiles the non-x86 build on x86 (to check it: generic path only).
#if (defined(__x86_64__) || defined(__i386__)) && !defined(DRHARD_QUANT_NO_X86)
#include <immintrin.h>
#define DRHARD_QUANT_X86 1
#endif

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

namespace drhard {
namespace {

constexpr int64_t kPanel = kInt8PanelRows;  // rows per document panel (search_core.h)

// Where one row's codes go: document panels (signed bytes, dims 4g…4g+3 as one dword every 128 bytes) or query
// rows (the byte code + levels + 1, so a code is never 0 and the 127-level codes are today's code + 128).
struct RowDest {
  uint8_t* base;
  bool panel;
  int32_t bias;  // levels + 1 (rows only)
  void put(int64_t i, int32_t c) const {
    if (panel)
      base[128 * (i / 4) + i % 4] = static_cast<uint8_t>(static_cast<int8_t>(c));
    else
      base[i] = static_cast<uint8_t>(c + bias);
  }
};

// s = max|x|/levels, rounded once to float32 from the float64 quotient; codes multiply by the float32 1/s (0 for
// a zero row or an s that underflowed to 0; inf where s is subnormal below 2^-128, see codeOf).
inline void scaleOf(uint32_t mxBits, int levels, float& s, float& inv) {
  float mx;
  std::memcpy(&mx, &mxBits, sizeof mx);
  s = static_cast<float>(static_cast<double>(mx) / static_cast<double>(levels));
  inv = s > 0 ? 1.0f / s : 0.0f;
}

// nearbyint(x·inv) (round half to even under the default rounding mode) clamped to ±L; an unordered product
// (0·inf, when 1/s overflowed) takes −L, as the first implementation's max(−L, ·) did. The codes are the bound's to
// measure, so any integers keep it valid; these are the ones every path must reproduce.
inline int32_t codeOf(float x, float inv, float L) {
  const float r = std::nearbyint(x * inv);
  return static_cast<int32_t>(r > -L ? (r < L ? r : L) : -L);
}

// Dimension i's contribution to the 8 float64 partial norm sums (lane i mod 8). `fused`: the last D mod 8
// dimensions, which the first implementation accumulated with FMAs.
inline void normStep(float x, int32_t c, double sd, bool fused, double& n2, double& r2, double& q2) {
  const double v = x;
  const double sc = sd * static_cast<double>(c);  // exact: 24 + 7 significant bits
  const double d = v - sc;
  if (fused) {
    n2 = std::fma(v, v, n2);
    r2 = std::fma(d, d, r2);
    q2 = std::fma(sc, sc, q2);
  } else {
    n2 = n2 + v * v;
    r2 = r2 + d * d;
    q2 = q2 + sc * sc;
  }
}

// ||x||, ||x − s·x̂||, ||s·x̂||: the partial sums added in lane order 0…7.
inline void finishNorms(const double* n2, const double* r2, const double* q2, double* norms) {
  double a = 0, b = 0, c = 0;
  for (int t = 0; t < 8; t++) {
    a += n2[t];
    b += r2[t];
    c += q2[t];
  }
  norms[0] = std::sqrt(a);
  norms[1] = std::sqrt(b);
  norms[2] = std::sqrt(c);
}

// Dimensions i0…D−1 one at a time (the generic path, and the vector paths' tails).
inline int32_t scalarRange(const float* row, int64_t i0, int64_t D, float inv, float L, double sd, const RowDest& out,
                           double* n2, double* r2, double* q2) {
  const int64_t D8 = D / 8 * 8;
  int32_t total = 0;
  for (int64_t i = i0; i < D; i++) {
    const int32_t c = codeOf(row[i], inv, L);
    total += c;
    out.put(i, c);
    normStep(row[i], c, sd, i >= D8, n2[i % 8], r2[i % 8], q2[i % 8]);
  }
  return total;
}

// The largest |x_i| of row[i0…D) as float32 bits, folded into mxBits: an integer max orders like the value (and puts
// NaN and Inf above every finite value), which the compiler vectorizes where a float max would need -ffast-math.
inline uint32_t absMaxBits(const float* row, int64_t i0, int64_t D, uint32_t mxBits) {
  for (int64_t i = i0; i < D; i++) {
    uint32_t u;
    std::memcpy(&u, row + i, sizeof u);
    u &= 0x7FFFFFFFu;
    mxBits = u > mxBits ? u : mxBits;
  }
  return mxBits;
}

// One row: codes, scale, code sum and norms; false (nothing written) if it holds a non-finite value.
bool rowGeneric(const float* row, int64_t D, int levels, const RowDest& out, float& scale, int32_t& sum, double* norms) {
  const uint32_t mxBits = absMaxBits(row, 0, D, 0);
  if (mxBits >= 0x7F800000u) return false;
  float s, inv;
  scaleOf(mxBits, levels, s, inv);
  double n2[8] = {0}, r2[8] = {0}, q2[8] = {0};
  sum = scalarRange(row, 0, D, inv, static_cast<float>(levels), s, out, n2, r2, q2);
  scale = s;
  finishNorms(n2, r2, q2, norms);
  return true;
}

#ifdef DRHARD_QUANT_X86

// ---- AVX-512F: 16 dimensions a step ----

__attribute__((target("avx512f"), always_inline)) inline __m512i codes16(__m512 x, __m512 inv, __m512 L, __m512 negL) {
  // _MM_FROUND_CUR_DIRECTION: the mode std::nearbyint follows (vrndscaleps imm 0x0C, as the scalar code compiles to).
  const __m512 r = _mm512_roundscale_ps(_mm512_mul_ps(x, inv), _MM_FROUND_CUR_DIRECTION | _MM_FROUND_NO_EXC);
  const __mmask16 above = _mm512_cmp_ps_mask(r, negL, _CMP_GT_OQ);  // false for NaN → −L
  return _mm512_cvttps_epi32(_mm512_mask_min_ps(negL, above, r, L));
}

// 8 dimensions' norm terms, lanes 0…7 = partial sums 0…7; `fuse` selects the lanes accumulated by FMA.
__attribute__((target("avx512f"), always_inline)) inline void norms8(__m256 x, __m256i c, __m512d sd, __mmask8 fuse,
                                                                    __m512d& n2, __m512d& r2, __m512d& q2) {
  const __m512d v = _mm512_cvtps_pd(x);
  const __m512d sc = _mm512_mul_pd(sd, _mm512_cvtepi32_pd(c));
  const __m512d d = _mm512_sub_pd(v, sc);
  if (fuse == 0) {
    n2 = _mm512_add_pd(n2, _mm512_mul_pd(v, v));
    r2 = _mm512_add_pd(r2, _mm512_mul_pd(d, d));
    q2 = _mm512_add_pd(q2, _mm512_mul_pd(sc, sc));
  } else {
    n2 = _mm512_mask3_fmadd_pd(v, v, n2, fuse);
    r2 = _mm512_mask3_fmadd_pd(d, d, r2, fuse);
    q2 = _mm512_mask3_fmadd_pd(sc, sc, q2, fuse);
  }
}

__attribute__((target("avx512f"))) bool rowAvx512(const float* row, int64_t D, int levels, const RowDest& out,
                                                  float& scale, int32_t& sum, double* norms) {
  const __m512i absMask = _mm512_set1_epi32(0x7FFFFFFF);
  __m512i m = _mm512_setzero_si512();
  int64_t i = 0;
  for (; i + 16 <= D; i += 16) m = _mm512_max_epu32(m, _mm512_and_si512(_mm512_loadu_si512(row + i), absMask));
  const __mmask16 tailMask = static_cast<__mmask16>((1u << (D - i)) - 1);
  if (i < D) m = _mm512_max_epu32(m, _mm512_and_si512(_mm512_maskz_loadu_epi32(tailMask, row + i), absMask));
  const uint32_t mxBits = _mm512_reduce_max_epu32(m);
  if (mxBits >= 0x7F800000u) return false;
  float s, inv;
  scaleOf(mxBits, levels, s, inv);
  const __m512 invv = _mm512_set1_ps(inv), Lv = _mm512_set1_ps(static_cast<float>(levels));
  const __m512 negL = _mm512_set1_ps(-static_cast<float>(levels));
  const __m512d sd = _mm512_set1_pd(s);
  const __m512i bias = _mm512_set1_epi32(out.bias);
  __m512d n2 = _mm512_setzero_pd(), r2 = _mm512_setzero_pd(), q2 = _mm512_setzero_pd();
  __m512i total = _mm512_setzero_si512();
  for (i = 0; i + 16 <= D; i += 16) {
    const __m512 x = _mm512_loadu_ps(row + i);
    const __m512i c = codes16(x, invv, Lv, negL);
    total = _mm512_add_epi32(total, c);
    if (out.panel) {
      // Dims i…i+15 are 4 groups of 4: one dword per 128-byte panel stride.
      const __m128i b = _mm512_cvtepi32_epi8(c);
      uint8_t* p = out.base + 32 * i;
      const uint32_t w0 = static_cast<uint32_t>(_mm_cvtsi128_si32(b)), w1 = static_cast<uint32_t>(_mm_extract_epi32(b, 1));
      const uint32_t w2 = static_cast<uint32_t>(_mm_extract_epi32(b, 2)), w3 = static_cast<uint32_t>(_mm_extract_epi32(b, 3));
      std::memcpy(p, &w0, 4);
      std::memcpy(p + 128, &w1, 4);
      std::memcpy(p + 256, &w2, 4);
      std::memcpy(p + 384, &w3, 4);
    } else {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out.base + i), _mm512_cvtepi32_epi8(_mm512_add_epi32(c, bias)));
    }
    norms8(_mm512_castps512_ps256(x), _mm512_castsi512_si256(c), sd, 0, n2, r2, q2);
    norms8(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)), _mm512_extracti64x4_epi64(c, 1), sd, 0,
           n2, r2, q2);
  }
  if (i < D) {
    // The last D − i < 16 dimensions: lanes past D load 0 and are coded 0 (not −L: 0·inf is NaN).
    const int64_t rem = D - i;
    const __m512 x = _mm512_maskz_loadu_ps(tailMask, row + i);
    const __m512 r = _mm512_roundscale_ps(_mm512_mul_ps(x, invv), _MM_FROUND_CUR_DIRECTION | _MM_FROUND_NO_EXC);
    const __mmask16 above = _mm512_cmp_ps_mask(r, negL, _CMP_GT_OQ);
    const __m512i c = _mm512_maskz_cvttps_epi32(tailMask, _mm512_mask_min_ps(negL, above, r, Lv));
    total = _mm512_add_epi32(total, c);
    alignas(64) int32_t cs[16];
    _mm512_store_si512(cs, c);
    for (int64_t j = 0; j < rem; j++) out.put(i + j, cs[j]);
    // Lanes i…i+7 lie below 8⌊D/8⌋ when rem >= 8; the rest are the FMA-accumulated remainder.
    const __mmask8 lowFuse = rem >= 8 ? 0 : static_cast<__mmask8>((1u << rem) - 1);
    norms8(_mm512_castps512_ps256(x), _mm512_castsi512_si256(c), sd, lowFuse, n2, r2, q2);
    if (rem > 8) {
      norms8(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)), _mm512_extracti64x4_epi64(c, 1), sd,
             static_cast<__mmask8>((1u << (rem - 8)) - 1), n2, r2, q2);
    }
  }
  alignas(64) double a[8], b[8], c[8];
  _mm512_store_pd(a, n2);
  _mm512_store_pd(b, r2);
  _mm512_store_pd(c, q2);
  scale = s;
  sum = _mm512_reduce_add_epi32(total);
  finishNorms(a, b, c, norms);
  return true;
}

// ---- AVX2 + FMA: 8 dimensions a step, the remainder by the scalar code ----

__attribute__((target("avx2,fma"))) bool rowAvx2(const float* row, int64_t D, int levels, const RowDest& out,
                                                 float& scale, int32_t& sum, double* norms) {
  const __m256i absMask = _mm256_set1_epi32(0x7FFFFFFF);
  __m256i m = _mm256_setzero_si256();
  int64_t i = 0;
  for (; i + 8 <= D; i += 8)
    m = _mm256_max_epu32(m, _mm256_and_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + i)), absMask));
  alignas(32) uint32_t mv[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(mv), m);
  uint32_t mxBits = 0;
  for (int t = 0; t < 8; t++) mxBits = mv[t] > mxBits ? mv[t] : mxBits;
  mxBits = absMaxBits(row, i, D, mxBits);
  if (mxBits >= 0x7F800000u) return false;
  float s, inv;
  scaleOf(mxBits, levels, s, inv);
  const float Lf = static_cast<float>(levels);
  const __m256 invv = _mm256_set1_ps(inv), Lv = _mm256_set1_ps(Lf), negL = _mm256_set1_ps(-Lf);
  const __m256d sd = _mm256_set1_pd(s);
  const __m256i bias = _mm256_set1_epi32(out.bias);
  // Byte 0 of each dword to the low dword of its 128-bit lane.
  const __m256i pick = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  //
                                        0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  __m256d n2lo = _mm256_setzero_pd(), n2hi = n2lo, r2lo = n2lo, r2hi = n2lo, q2lo = n2lo, q2hi = n2lo;
  __m256i total = _mm256_setzero_si256();
  for (i = 0; i + 8 <= D; i += 8) {
    const __m256 x = _mm256_loadu_ps(row + i);
    const __m256 r = _mm256_round_ps(_mm256_mul_ps(x, invv), _MM_FROUND_CUR_DIRECTION | _MM_FROUND_NO_EXC);
    const __m256 above = _mm256_cmp_ps(r, negL, _CMP_GT_OQ);  // false for NaN → −L
    const __m256i c = _mm256_cvttps_epi32(_mm256_blendv_ps(negL, _mm256_min_ps(r, Lv), above));
    total = _mm256_add_epi32(total, c);
    const __m256i b = _mm256_shuffle_epi8(out.panel ? c : _mm256_add_epi32(c, bias), pick);
    const uint32_t w0 = static_cast<uint32_t>(_mm256_extract_epi32(b, 0)), w1 = static_cast<uint32_t>(_mm256_extract_epi32(b, 4));
    if (out.panel) {
      std::memcpy(out.base + 32 * i, &w0, 4);
      std::memcpy(out.base + 32 * i + 128, &w1, 4);
    } else {
      std::memcpy(out.base + i, &w0, 4);
      std::memcpy(out.base + i + 4, &w1, 4);
    }
    const __m256d vlo = _mm256_cvtps_pd(_mm256_castps256_ps128(x)), vhi = _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1));
    const __m256d slo = _mm256_mul_pd(sd, _mm256_cvtepi32_pd(_mm256_castsi256_si128(c)));
    const __m256d shi = _mm256_mul_pd(sd, _mm256_cvtepi32_pd(_mm256_extracti128_si256(c, 1)));
    const __m256d dlo = _mm256_sub_pd(vlo, slo), dhi = _mm256_sub_pd(vhi, shi);
    n2lo = _mm256_add_pd(n2lo, _mm256_mul_pd(vlo, vlo));
    n2hi = _mm256_add_pd(n2hi, _mm256_mul_pd(vhi, vhi));
    r2lo = _mm256_add_pd(r2lo, _mm256_mul_pd(dlo, dlo));
    r2hi = _mm256_add_pd(r2hi, _mm256_mul_pd(dhi, dhi));
    q2lo = _mm256_add_pd(q2lo, _mm256_mul_pd(slo, slo));
    q2hi = _mm256_add_pd(q2hi, _mm256_mul_pd(shi, shi));
  }
  alignas(32) double a[8], bb[8], cc[8];
  _mm256_store_pd(a, n2lo);
  _mm256_store_pd(a + 4, n2hi);
  _mm256_store_pd(bb, r2lo);
  _mm256_store_pd(bb + 4, r2hi);
  _mm256_store_pd(cc, q2lo);
  _mm256_store_pd(cc + 4, q2hi);
  alignas(32) int32_t tv[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(tv), total);
  int32_t t = 0;
  for (int j = 0; j < 8; j++) t += tv[j];
  t += scalarRange(row, i, D, inv, Lf, s, out, a, bb, cc);
  scale = s;
  sum = t;
  finishNorms(a, bb, cc, norms);
  return true;
}

#endif  // DRHARD_QUANT_X86

using RowFn = bool (*)(const float*, int64_t, int, const RowDest&, float&, int32_t&, double*);

// The path for this call: the widest this CPU runs, or DRHARD_INT8_QUANT_ISA (auto | generic | avx2 | avx512),
// read on every call so that tests can compare the paths in one process; every path gives the same bytes.
RowFn chooseRowFn() {
  const char* env = std::getenv("DRHARD_INT8_QUANT_ISA");
  const std::string want = env == nullptr ? "" : env;
#ifdef DRHARD_QUANT_X86
  const bool has512 = __builtin_cpu_supports("avx512f");
  const bool has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  const bool has512 = false, has2 = false;
#endif
  RowFn fn = rowGeneric;
  if (want.empty() || want == "auto") {
#ifdef DRHARD_QUANT_X86
    fn = has512 ? rowAvx512 : has2 ? rowAvx2 : rowGeneric;
#endif
  } else if (want == "generic") {
    fn = rowGeneric;
  } else if (want == "avx2" || want == "avx512") {
    if (want == "avx2" ? !has2 : !has512)
      throw std::invalid_argument("int8Quantize: DRHARD_INT8_QUANT_ISA=" + want + " but this CPU lacks " +
                                  (want == "avx2" ? "AVX2/FMA" : "AVX-512F"));
#ifdef DRHARD_QUANT_X86
    fn = want == "avx2" ? rowAvx2 : rowAvx512;
#endif
  } else {
    throw std::invalid_argument("int8Quantize: DRHARD_INT8_QUANT_ISA must be auto, generic, avx2 or avx512 (got \"" +
                                want + "\")");
  }
  return fn;
}

}  // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> int8Quantize(const at::Tensor& xIn, bool panels,
                                                                        int64_t levels) {
  if (levels < 1 || levels > 127)
    throw std::invalid_argument("int8Quantize: levels must be in 1…127 (got " + std::to_string(levels) + ")");
  if (panels && levels != 127)
    throw std::invalid_argument("int8Quantize: document panels are always coded with 127 levels (got " +
                                std::to_string(levels) + "); fewer levels are for query rows (panels = false)");
  checkMatrix(xIn, at::kFloat, "int8Quantize: rows");
  const RowFn rowFn = chooseRowFn();
  const at::Tensor x = xIn.contiguous();
  const int64_t n = x.size(0), D = x.size(1);
  const int64_t Dp = (D + 3) / 4 * 4;
  const int64_t rowsOut = panels ? (n + kPanel - 1) / kPanel * kPanel : n;
  const int L = static_cast<int>(levels);
  // Every code byte is written below (padding dimensions and rows as code 0: byte 0 in panels, levels + 1 in rows),
  // so the codes start uninitialized: zero-filling first measured a quarter of the time at 200k × 768.
  at::Tensor codes = panels ? at::empty({rowsOut * Dp}, at::kChar) : at::empty({n, Dp}, at::kByte);
  at::Tensor scale = at::zeros({rowsOut}, at::kFloat);
  at::Tensor sum = at::zeros({rowsOut}, at::kInt);
  at::Tensor norms = at::zeros({n, 3}, at::kDouble);
  const float* xp = x.data_ptr<float>();
  uint8_t* cp = reinterpret_cast<uint8_t*>(codes.data_ptr());
  float* sp = scale.data_ptr<float>();
  int32_t* up = sum.data_ptr<int32_t>();
  double* np = norms.data_ptr<double>();
  std::atomic<int64_t> bad{-1};
  at::parallel_for(0, n, 256, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      const RowDest out{panels ? cp + (r / kPanel) * kPanel * Dp + 4 * (r % kPanel) : cp + r * Dp, panels, L + 1};
      if (!rowFn(xp + r * D, D, L, out, sp[r], up[r], np + 3 * r)) {
        bad.store(r);
        return;
      }
      for (int64_t i = D; i < Dp; i++) out.put(i, 0);
    }
  });
  if (panels && rowsOut > n) {
    // The last panel's rows past n: code 0 in every dimension.
    uint8_t* last = cp + (n / kPanel) * kPanel * Dp;
    for (int64_t g = 0; g < Dp / 4; g++) std::memset(last + 128 * g + 4 * (n % kPanel), 0, 4 * static_cast<size_t>(rowsOut - n));
  }
  if (bad.load() >= 0)
    throw std::invalid_argument("int8Quantize: row " + std::to_string(bad.load()) + " holds a non-finite value");
  return {codes, scale, sum, norms};
}

}  // namespace drhard
