// Implementation of the screened exact top-k kernel declared in search_core.h.
#include "search_core.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

namespace drhard {
namespace {

// bfloat16 bits → an int16 that orders like the value (sign-magnitude → two's complement). The hot loop then takes
// an integer max, which the compiler vectorizes; a float max reduction it would not without -ffast-math.
inline int16_t orderKey(int16_t x) { return static_cast<int16_t>(x ^ ((x >> 15) & 0x7FFF)); }

inline float bf16ToFloat(int16_t x) {
  const uint32_t u = static_cast<uint32_t>(static_cast<uint16_t>(x)) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// A key at or below every bfloat16 value >= t: the screen may keep a few more documents than needed, never fewer.
// Truncating t's float32 bits rounds toward zero, which is upward for negative t; one more step down covers it
// (and -0 versus +0).
int16_t keyAtOrBelow(float t) {
  if (!(t > -std::numeric_limits<float>::infinity())) return INT16_MIN;
  uint32_t u;
  std::memcpy(&u, &t, sizeof u);
  const int16_t key = orderKey(static_cast<int16_t>(static_cast<uint16_t>(u >> 16)));
  return key == INT16_MIN ? key : static_cast<int16_t>(key - 1);
}

// float32 bits → an int32 that orders like the value, as orderKey does for bfloat16.
inline int32_t orderKey32(int32_t x) { return x ^ ((x >> 31) & 0x7FFFFFFF); }

// A key at or below every float32 value >= t (one step down covers -0 versus +0).
int32_t keyAtOrBelow32(float t) {
  if (!(t > -std::numeric_limits<float>::infinity())) return INT32_MIN;
  int32_t u;
  std::memcpy(&u, &t, sizeof u);
  const int32_t key = orderKey32(u);
  return key == INT32_MIN ? key : key - 1;
}

// One query's surviving candidates (ascending doc offsets) and its current screening threshold.
struct Row {
  std::vector<float> v;
  std::vector<int32_t> id;
  int16_t key = INT16_MIN;    // bfloat16 screen's threshold key
  int32_t key32 = INT32_MIN;  // float32 screen's threshold key
  size_t cap = 0;
};

// The error model: a document's exact score (less the query's constant shift) lies within
// abs + rel·|screen score| of its screen score.
struct ErrorBound {
  double abs;
  double rel;
};

// The lowest screen score a document can have and still reach the k-th best document's lowest possible exact score
// sk − abs − rel·|sk|: the x solving x + abs + rel·|x| = that, rounded down to float.
float threshold(float sk, ErrorBound e) {
  const double lowK = sk - e.abs - e.rel * std::fabs(sk);
  const double x = lowK - e.abs;
  const double t = x >= 0 ? x / (1 + e.rel) : x / (1 - e.rel);
  float f = static_cast<float>(t);
  if (static_cast<double>(f) > t) f = std::nextafter(f, -std::numeric_limits<float>::infinity());
  return f;
}

// Raises the threshold from the k-th best screen score and drops the candidates below it. The k-th best among the
// candidates is the k-th best seen so far: everything dropped earlier was below an older, lower threshold.
void prune(Row& r, int64_t k, ErrorBound err, std::vector<float>& tmp) {
  if (r.v.size() <= static_cast<size_t>(k)) return;
  tmp.assign(r.v.begin(), r.v.end());
  std::nth_element(tmp.begin(), tmp.begin() + (k - 1), tmp.end(), std::greater<float>());
  const float tau = threshold(tmp[static_cast<size_t>(k - 1)], err);
  r.key = keyAtOrBelow(tau);
  r.key32 = keyAtOrBelow32(tau);
  size_t w = 0;
  for (size_t i = 0; i < r.v.size(); i++) {
    if (r.v[i] >= tau) {
      r.v[w] = r.v[i];
      r.id[w] = r.id[i];
      w++;
    }
  }
  r.v.resize(w);
  r.id.resize(w);
}

// Screens one row of bfloat16 scores (docs base … base+n): blocks whose largest key is under the threshold are
// skipped after one vectorized pass; the rare others are appended to the candidates.
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"))) void scanRow(const int16_t* x, int64_t n,
                                                                             int64_t base, Row& r, int64_t k,
                                                                             ErrorBound err, std::vector<float>& tmp) {
  constexpr int64_t W = 64;
  for (int64_t j = 0; j < n; j += W) {
    const int64_t w = std::min(W, n - j);
    int16_t m = INT16_MIN;
    if (w == W) {
      for (int64_t t = 0; t < W; t++) {
        const int16_t v = orderKey(x[j + t]);
        m = v > m ? v : m;
      }
    } else {
      for (int64_t t = 0; t < w; t++) {
        const int16_t v = orderKey(x[j + t]);
        m = v > m ? v : m;
      }
    }
    if (m < r.key) continue;
    for (int64_t t = 0; t < w; t++) {
      if (orderKey(x[j + t]) >= r.key) {
        r.v.push_back(bf16ToFloat(x[j + t]));
        r.id.push_back(static_cast<int32_t>(base + j + t));
      }
    }
    if (r.v.size() >= r.cap) {
      prune(r, k, err, tmp);
      // Keep pruning amortized when many documents sit within the margin.
      if (2 * r.v.size() > r.cap) r.cap *= 2;
    }
  }
}

// scanRow for float32 scores (the sgemm screen): the same block skip on int32 order keys.
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"))) void scanRow32(const int32_t* x, int64_t n,
                                                                               int64_t base, Row& r, int64_t k,
                                                                               ErrorBound err, std::vector<float>& tmp) {
  constexpr int64_t W = 64;
  for (int64_t j = 0; j < n; j += W) {
    const int64_t w = std::min(W, n - j);
    int32_t m = INT32_MIN;
    if (w == W) {
      for (int64_t t = 0; t < W; t++) {
        const int32_t v = orderKey32(x[j + t]);
        m = v > m ? v : m;
      }
    } else {
      for (int64_t t = 0; t < w; t++) {
        const int32_t v = orderKey32(x[j + t]);
        m = v > m ? v : m;
      }
    }
    if (m < r.key32) continue;
    for (int64_t t = 0; t < w; t++) {
      if (orderKey32(x[j + t]) >= r.key32) {
        float f;
        std::memcpy(&f, x + j + t, sizeof f);
        r.v.push_back(f);
        r.id.push_back(static_cast<int32_t>(base + j + t));
      }
    }
    if (r.v.size() >= r.cap) {
      prune(r, k, err, tmp);
      if (2 * r.v.size() > r.cap) r.cap *= 2;
    }
  }
}

// The exact side's score: float32 products summed in float64 (8 independent partial sums, vectorizable without
// reassociation) and rounded once to float32. It is the inner product correctly rounded in all but astronomically
// rare cases, whatever BLAS or summation order the machine has, and a document scores the same in every call.
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"))) float dot(const float* a,
                                                                                         const float* b, int64_t n) {
  double acc[8] = {0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int t = 0; t < 8; t++) acc[t] += static_cast<double>(a[i + t]) * static_cast<double>(b[i + t]);
  for (int t = 0; i < n; i++, t++) acc[t] += static_cast<double>(a[i]) * static_cast<double>(b[i]);
  for (int w = 4; w >= 1; w /= 2)
    for (int t = 0; t < w; t++) acc[t] += acc[t + w];
  return static_cast<float>(acc[0]);
}

// OpenBLAS (the BLAS libtorch and faiss use here) set to one thread for this object's lifetime, so that several
// threads can each run their own sgemm; restored afterwards. Inactive where the BLAS is not OpenBLAS.
class BlasSingleThread {
 public:
  BlasSingleThread() {
    static const auto fns = [] {
      std::pair<void (*)(int), int (*)()> f{nullptr, nullptr};
      for (const char* lib : {"libopenblas.so.0", "libblas.so.3"}) {
        void* h = dlopen(lib, RTLD_LAZY | RTLD_NOLOAD);
        if (h == nullptr) continue;
        f.first = reinterpret_cast<void (*)(int)>(dlsym(h, "openblas_set_num_threads"));
        f.second = reinterpret_cast<int (*)()>(dlsym(h, "openblas_get_num_threads"));
        if (f.first != nullptr && f.second != nullptr) break;
        f = {nullptr, nullptr};
      }
      return f;
    }();
    set_ = fns.first;
    if (set_ != nullptr) {
      prev_ = fns.second();
      set_(1);
    }
  }
  ~BlasSingleThread() {
    if (set_ != nullptr) set_(prev_);
  }
  BlasSingleThread(const BlasSingleThread&) = delete;
  BlasSingleThread& operator=(const BlasSingleThread&) = delete;
  bool active() const { return set_ != nullptr; }

 private:
  void (*set_)(int) = nullptr;
  int prev_ = 1;
};

void checkMatrix(const at::Tensor& t, at::ScalarType type, const char* name) {
  if (!t.device().is_cpu()) throw std::invalid_argument(std::string(name) + " must be a CPU tensor");
  if (t.dim() != 2) throw std::invalid_argument(std::string(name) + " must be 2-dimensional");
  if (t.scalar_type() != type)
    throw std::invalid_argument(std::string(name) + " must be " + c10::toString(type) + ", got " +
                                c10::toString(t.scalar_type()));
}

}  // namespace

// Whether at::mm of bfloat16 matrices of this size accumulates in float32 (the bound's assumption). libtorch 1.13
// sends a bfloat16 GEMM to oneDNN (float32 accumulation, AMX here) only when m·k·n > 16³, mkldnn is enabled and the
// CPU has AVX512-BW/VL/DQ; anything else goes to a fallback measured to err far beyond float32 accumulation (partial
// sums rounded to bfloat16). A one-time check against float64 guards against other libtorch versions.
bool bf16GemmIsFloat32Accumulating(int64_t m, int64_t k, int64_t n) {
  if (m * k * n <= 16 * 16 * 16) return false;
  static const bool ok = [] {
    if (!at::hasMKLDNN() || !at::globalContext().userEnabledMkldnn()) return false;
    if (!__builtin_cpu_supports("avx512bw") || !__builtin_cpu_supports("avx512vl") ||
        !__builtin_cpu_supports("avx512dq"))
      return false;
    at::NoGradGuard noGrad;
    const auto gen = at::make_generator<at::CPUGeneratorImpl>(12345);
    for (const auto& shape : {std::array<int64_t, 3>{1, 768, 8}, std::array<int64_t, 3>{64, 4096, 24}}) {
      const at::Tensor a = at::randn({shape[0], shape[1]}, gen, at::kFloat).to(at::kBFloat16);
      const at::Tensor b = at::randn({shape[2], shape[1]}, gen, at::kFloat).to(at::kBFloat16);
      const at::Tensor got = at::mm(a, b.t()).to(at::kDouble);
      const at::Tensor exact = at::mm(a.to(at::kDouble), b.to(at::kDouble).t());
      const at::Tensor scale = at::mm(a.to(at::kDouble).abs(), b.to(at::kDouble).abs().t());
      // Allowed: a bfloat16 ulp of the output plus float32 accumulation (with room to spare).
      const double gamma = 4.0 * static_cast<double>(shape[1]) * std::ldexp(1.0, -24);
      const at::Tensor excess = (got - exact).abs() - exact.abs() * std::ldexp(1.0, -7) - scale * gamma;
      if (excess.max().item<double>() > 0) return false;
    }
    return true;
  }();
  return ok;
}

namespace {

// The shared part of both screened searches: argument checks, the per-query candidate rows, and the exact
// rescoring of what the screen let through. `screen(rows, bound)` screens every document into the rows.
template <class Screen>
std::tuple<at::Tensor, at::Tensor, at::Tensor> screenAndRescore(const char* fn, const at::Tensor& qIn,
                                                               const at::Tensor& docsIn, const at::Tensor& errAbsIn,
                                                               double errRel, int64_t k, int64_t chunk,
                                                               Screen&& screen) {
  const std::string f(fn);
  const int64_t B = qIn.size(0), N = docsIn.size(0);
  if (errAbsIn.scalar_type() != at::kFloat || errAbsIn.dim() != 1 || errAbsIn.size(0) != B)
    throw std::invalid_argument(f + ": errAbs must be float32 [B]");
  if (!(errRel >= 0 && errRel < 0.5)) throw std::invalid_argument(f + ": errRel must be in [0, 0.5)");
  if (k < 1) throw std::invalid_argument(f + ": k must be >= 1");
  if (chunk < 1) throw std::invalid_argument(f + ": chunk must be >= 1");
  if (N > std::numeric_limits<int32_t>::max()) throw std::invalid_argument(f + ": more than 2^31 documents");

  at::NoGradGuard noGrad;
  const int64_t D = qIn.size(1);
  const at::Tensor q = qIn.contiguous();
  const at::Tensor docs = docsIn.contiguous();
  const at::Tensor errAbs = errAbsIn.contiguous();
  const float* ep = errAbs.data_ptr<float>();
  for (int64_t b = 0; b < B; b++)
    if (!(ep[b] >= 0) || std::isinf(ep[b])) throw std::invalid_argument(f + ": errAbs must be finite and >= 0");
  const auto bound = [&](int64_t b) { return ErrorBound{static_cast<double>(ep[b]), errRel}; };

  at::Tensor scores = at::full({B, k}, -std::numeric_limits<float>::infinity(), at::kFloat);
  at::Tensor ids = at::full({B, k}, -1, at::kLong);
  at::Tensor rescored = at::zeros({B}, at::kLong);
  if (B == 0 || N == 0) return {scores, ids, rescored};

  std::vector<Row> rows(static_cast<size_t>(B));
  for (auto& r : rows) r.cap = static_cast<size_t>(std::max<int64_t>(4 * k, 1024));
  screen(rows, bound);

  float* so = scores.data_ptr<float>();
  int64_t* io = ids.data_ptr<int64_t>();
  int64_t* ro = rescored.data_ptr<int64_t>();
  const float* qp = q.data_ptr<float>();
  const float* dp = docs.data_ptr<float>();
  at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
    std::vector<float> tmp;
    std::vector<float> exact;
    std::vector<int32_t> order;
    for (int64_t b = b0; b < b1; b++) {
      Row& r = rows[b];
      prune(r, k, bound(b), tmp);
      const size_t n = r.v.size();
      ro[b] = static_cast<int64_t>(n);
      exact.resize(n);
      // Candidates are in ascending offset order, which also keeps the row reads moving forward through memory.
      // (Software prefetching of the next rows measured slower than leaving it to the hardware.)
      for (size_t i = 0; i < n; i++) exact[i] = dot(qp + b * D, dp + static_cast<int64_t>(r.id[i]) * D, D);
      order.resize(n);
      std::iota(order.begin(), order.end(), 0);
      const size_t m = std::min(n, static_cast<size_t>(k));
      std::partial_sort(order.begin(), order.begin() + m, order.end(), [&](int32_t x, int32_t y) {
        return exact[x] > exact[y] || (exact[x] == exact[y] && r.id[x] < r.id[y]);
      });
      for (size_t t = 0; t < m; t++) {
        so[b * k + t] = exact[order[t]];
        io[b * k + t] = r.id[order[t]];
      }
      std::vector<float>().swap(r.v);
      std::vector<int32_t>().swap(r.id);
    }
  });
  return {scores, ids, rescored};
}

}  // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor> screenedTopk(const at::Tensor& qIn, const at::Tensor& docsIn,
                                                           const at::Tensor& qLo, const at::Tensor& docsLo,
                                                           const at::Tensor& errAbsIn, double errRel, int64_t k,
                                                           int64_t chunk) {
  checkMatrix(qIn, at::kFloat, "queries");
  checkMatrix(docsIn, at::kFloat, "documents");
  checkMatrix(qLo, at::kBFloat16, "screening queries");
  checkMatrix(docsLo, at::kBFloat16, "screening documents");
  const int64_t B = qIn.size(0), D = qIn.size(1), N = docsIn.size(0);
  if (docsIn.size(1) != D || qLo.size(0) != B || qLo.size(1) != D || docsLo.size(0) != N || docsLo.size(1) != D)
    throw std::invalid_argument("screenedTopk: queries [B, D], documents [N, D] and their screening copies must agree");
  // One score buffer for every chunk: a fresh 10-30 MB block per GEMM is page-faulted in each time or, once glibc
  // raises its mmap threshold, fragments the heap (peak RSS of sharded search varied by 80 MB from run to run).
  at::Tensor block;
  at::Tensor qLoF;  // float32 copy of qLo, made only if a chunk needs the float32 path
  return screenAndRescore("screenedTopk", qIn, docsIn, errAbsIn, errRel, k, chunk,
                          [&](std::vector<Row>& rows, const auto& bound) {
   for (int64_t c0 = 0; c0 < N; c0 += chunk) {
    const int64_t cn = std::min(chunk, N - c0);
    if (!block.defined()) block = at::empty({B * std::min(chunk, N)}, qLo.options());
    at::Tensor s = block.narrow(0, 0, B * cn).view({B, cn});  // [B, cn] bfloat16, contiguous
    const at::Tensor chunkLo = docsLo.narrow(0, c0, cn);
    if (bf16GemmIsFloat32Accumulating(B, D, cn)) {
      at::mm_out(s, qLo, chunkLo.t());
    } else {
      // The same products (exact in float32) summed in float32 by sgemm, rounded to bfloat16 on the copy.
      if (!qLoF.defined()) qLoF = qLo.to(at::kFloat);
      s.copy_(at::mm(qLoF, chunkLo.to(at::kFloat).t()));
    }
    TORCH_CHECK(s.is_contiguous() && s.data_ptr() == block.data_ptr(), "screenedTopk: mm_out moved its output");
    const int16_t* sp = reinterpret_cast<const int16_t*>(s.data_ptr());
    at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
      std::vector<float> tmp;
      for (int64_t b = b0; b < b1; b++) scanRow(sp + b * cn, cn, c0, rows[b], k, bound(b), tmp);
    });
   }
  });
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> sgemmScreenedTopk(const at::Tensor& qIn, const at::Tensor& docsIn,
                                                                const at::Tensor& errAbsIn, int64_t k,
                                                                int64_t chunk) {
  checkMatrix(qIn, at::kFloat, "queries");
  checkMatrix(docsIn, at::kFloat, "documents");
  const int64_t B = qIn.size(0), D = qIn.size(1), N = docsIn.size(0);
  if (docsIn.size(1) != D) throw std::invalid_argument("sgemmScreenedTopk: queries [B, D] and documents [N, D] must agree");
  return screenAndRescore("sgemmScreenedTopk", qIn, docsIn, errAbsIn, 0.0, k, chunk,
                          [&](std::vector<Row>& rows, const auto& bound) {
    const at::Tensor q = qIn.contiguous();
    // Each thread screens its own slice of the queries against every chunk: a single-threaded sgemm into its own
    // reused block, scanned while the block is still in its core's cache, with no barrier between GEMM and scan.
    // (Shared multi-threaded GEMMs left OpenBLAS's threads spinning on the cores the scan needed.) Where the BLAS
    // cannot be made single-threaded for the call, every chunk is one shared GEMM and a parallel scan instead.
    const int nt = at::get_num_threads();
    BlasSingleThread single;
    const bool perThread = nt > 1 && B > 1 && single.active();
    const int64_t grain = perThread ? (B + nt - 1) / nt : B;
    at::parallel_for(0, B, grain, [&](int64_t q0, int64_t q1) {
      const int64_t qn = q1 - q0;
      at::Tensor block = at::empty({qn * std::min(chunk, N)}, at::kFloat);
      const at::Tensor qs = q.narrow(0, q0, qn);
      std::vector<float> tmp;
      for (int64_t c0 = 0; c0 < N; c0 += chunk) {
        const int64_t cn = std::min(chunk, N - c0);
        at::Tensor s = block.narrow(0, 0, qn * cn).view({qn, cn});
        at::mm_out(s, qs, docsIn.narrow(0, c0, cn).t());
        TORCH_CHECK(s.is_contiguous() && s.data_ptr() == block.data_ptr(), "sgemmScreenedTopk: mm_out moved its output");
        const int32_t* sp = reinterpret_cast<const int32_t*>(s.data_ptr());
        if (perThread) {
          for (int64_t b = 0; b < qn; b++) scanRow32(sp + b * cn, cn, c0, rows[q0 + b], k, bound(q0 + b), tmp);
        } else {
          at::parallel_for(0, qn, 1, [&](int64_t b0, int64_t b1) {
            std::vector<float> tmp2;
            for (int64_t b = b0; b < b1; b++) scanRow32(sp + b * cn, cn, c0, rows[q0 + b], k, bound(q0 + b), tmp2);
          });
        }
      }
    });
  });
}

}  // namespace drhard
