// Implementation of the screened exact top-k kernel declared in search_core.h.
#include "search_core.h"
#include "clones.h"
#include "tensor_core.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>
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
  // The int8 screen's per-document bounds: v holds each candidate's lower bound on its exact score, hi its upper
  // bound; lowK is the k-th largest lower bound seen, tau a screen value below which no upper bound can reach it.
  std::vector<float> hi;
  // The int8 screens' k largest lower bounds seen (a min-heap), so that lowK rises with each candidate rather than
  // only at the next prune: every candidate admitted while lowK lags costs a refinement.
  std::vector<float> topL;
  float lowK = -std::numeric_limits<float>::infinity();
  float tau = -std::numeric_limits<float>::infinity();
  size_t cap = 0;
  // A score the caller already holds k results at or above (sharded search: the k-th best of earlier shards, whose
  // offsets are lower, so a tie loses to them): documents whose exact score must fall below it are dropped, and
  // floorTau is the lowest screen value that can still reach it (float32 screens; -inf where unused).
  float floor = -std::numeric_limits<float>::infinity();
  float floorTau = -std::numeric_limits<float>::infinity();
};

// The float after f (f finite or -inf; +inf after FLT_MAX) and the one before (f finite or +inf): std::nextafter
// without its library call, which the int8 kernels' per-candidate outward roundings made 1% of a search.
inline float floatUp(float f) {
  if (f == 0) return std::numeric_limits<float>::denorm_min();
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  u = (u >> 31) != 0 ? u - 1 : u + 1;
  std::memcpy(&f, &u, sizeof u);
  return f;
}
inline float floatDown(float f) { return -floatUp(-f); }

// The error model: a document's exact score (less the query's constant shift) lies within
// abs + rel·|screen score| of its screen score.
struct ErrorBound {
  double abs;
  double rel;
};

// The lowest screen score a document can have and still reach an exact score of lowK: the x solving
// x + abs + rel·|x| = lowK, rounded down to float.
float thresholdFor(double lowK, ErrorBound e) {
  if (!(lowK > -std::numeric_limits<double>::infinity())) return -std::numeric_limits<float>::infinity();
  const double x = lowK - e.abs;
  const double t = x >= 0 ? x / (1 + e.rel) : x / (1 - e.rel);
  float f = static_cast<float>(t);
  if (static_cast<double>(f) > t) f = floatDown(f);
  return f;
}

// The same for the k-th best document's lowest possible exact score sk − abs − rel·|sk|.
float threshold(float sk, ErrorBound e) { return thresholdFor(sk - e.abs - e.rel * std::fabs(sk), e); }

// Raises the threshold from the k-th best screen score and drops the candidates below it. The k-th best among the
// candidates is the k-th best seen so far: everything dropped earlier was below an older, lower threshold.
void prune(Row& r, int64_t k, ErrorBound err, std::vector<float>& tmp) {
  if (r.v.size() <= static_cast<size_t>(k)) return;
  tmp.assign(r.v.begin(), r.v.end());
  std::nth_element(tmp.begin(), tmp.begin() + (k - 1), tmp.end(), std::greater<float>());
  const float tau = std::max(threshold(tmp[static_cast<size_t>(k - 1)], err), r.floorTau);
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

// The score types a screen writes: bfloat16 (as int16 bits) or float32 (as int32 bits), each with an integer key
// that orders like the value and the threshold key a Row keeps for it.
struct Bf16Scores {
  using Bits = int16_t;
  static Bits key(Bits x) { return orderKey(x); }
  static float value(Bits x) { return bf16ToFloat(x); }
  static Bits threshold(const Row& r) { return r.key; }
};
struct Fp32Scores {
  using Bits = int32_t;
  static Bits key(Bits x) { return orderKey32(x); }
  static float value(Bits x) {
    float f;
    std::memcpy(&f, &x, sizeof f);
    return f;
  }
  static Bits threshold(const Row& r) { return r.key32; }
};

// Screens one row of scores (docs base … base+n): blocks whose largest key is under the threshold are skipped after
// one vectorized pass; the rare others are appended to the candidates. Inlined into each target clone below, so it
// is vectorized for each target.
template <class S>
__attribute__((always_inline)) inline void scanRowBody(const typename S::Bits* x, int64_t n, int64_t base, Row& r,
                                                       int64_t k, ErrorBound err, std::vector<float>& tmp) {
  using Bits = typename S::Bits;
  constexpr int64_t W = 64;
  for (int64_t j = 0; j < n; j += W) {
    const int64_t w = std::min(W, n - j);
    Bits m = std::numeric_limits<Bits>::min();
    if (w == W) {
      for (int64_t t = 0; t < W; t++) {
        const Bits v = S::key(x[j + t]);
        m = v > m ? v : m;
      }
    } else {
      for (int64_t t = 0; t < w; t++) {
        const Bits v = S::key(x[j + t]);
        m = v > m ? v : m;
      }
    }
    if (m < S::threshold(r)) continue;
    for (int64_t t = 0; t < w; t++) {
      if (S::key(x[j + t]) >= S::threshold(r)) {
        r.v.push_back(S::value(x[j + t]));
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

// The bfloat16 screen's scan.
DRHARD_CLONES void scanRow(const int16_t* x, int64_t n, int64_t base, Row& r, int64_t k, ErrorBound err,
                           std::vector<float>& tmp) {
  scanRowBody<Bf16Scores>(x, n, base, r, k, err, tmp);
}

// The float32 (sgemm) screen's scan.
DRHARD_CLONES void scanRow32(const int32_t* x, int64_t n, int64_t base, Row& r, int64_t k, ErrorBound err,
                             std::vector<float>& tmp) {
  scanRowBody<Fp32Scores>(x, n, base, r, k, err, tmp);
}

// The exact side's score: float32 products summed in float64 (8 independent partial sums, vectorizable without
// reassociation) and rounded once to float32. It is the inner product correctly rounded in all but astronomically
// rare cases, whatever BLAS or summation order the machine has, and a document scores the same in every call.
DRHARD_CLONES float dot(const float* a, const float* b, int64_t n) {
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

}  // namespace

void checkMatrix(const at::Tensor& t, at::ScalarType type, const char* name) {
  if (!t.device().is_cpu()) throw std::invalid_argument(std::string(name) + " must be a CPU tensor");
  if (t.dim() != 2) throw std::invalid_argument(std::string(name) + " must be 2-dimensional");
  if (t.scalar_type() != type)
    throw std::invalid_argument(std::string(name) + " must be " + c10::toString(type) + ", got " +
                                c10::toString(t.scalar_type()));
}

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

// Rows read one at a time from an embeddings file (float32 or float16 rows in offset order from byte 0; float16 is
// widened, as a sharded search widens its shards), for rescoring from a file too big to load: a pread per row copies
// only the row's bytes, where a mapping of the file put ~16 KB per row read into the process's resident memory
// (measured at 8.8M × 768: 6.5 GiB of file pages after 1,000 queries). Inactive for an empty path.
class RowFile {
 public:
  RowFile(const std::string& path, bool half, int64_t N, int64_t D)
      : path_(path), half_(half), D_(D), bytes_(static_cast<size_t>(D) * (half ? 2 : 4)) {
    if (path.empty()) return;
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw std::runtime_error(path + ": " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd_, &st) != 0 || static_cast<uint64_t>(st.st_size) < static_cast<uint64_t>(N) * bytes_) {
      ::close(fd_);
      throw std::runtime_error(path + ": file too short for " + std::to_string(N) + " rows of " + std::to_string(D) +
                               (half ? " float16" : " float32"));
    }
  }
  ~RowFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  RowFile(const RowFile&) = delete;
  RowFile& operator=(const RowFile&) = delete;
  // Row `id` as float32 into out[0…D); `scratch` holds a float16 row's bytes (D uint16).
  void read(int64_t id, float* out, std::vector<uint16_t>& scratch) const {
    if (half_) scratch.resize(static_cast<size_t>(D_));
    char* dst = half_ ? reinterpret_cast<char*>(scratch.data()) : reinterpret_cast<char*>(out);
    const int64_t got = preadFull(fd_, dst, bytes_, id * static_cast<int64_t>(bytes_));
    if (got < 0 || static_cast<size_t>(got) < bytes_)
      throw std::runtime_error(path_ + ": read of row " + std::to_string(id) + " failed: " +
                               (got < 0 ? std::strerror(static_cast<int>(-got)) : "end of file"));
    if (half_)
      for (int64_t i = 0; i < D_; i++) out[i] = static_cast<float>(c10::Half(scratch[i], c10::Half::from_bits()));
  }

 private:
  std::string path_;
  bool half_;
  int64_t D_;
  size_t bytes_;
  int fd_ = -1;
};

// The shared part of both screened searches: argument checks, the per-query candidate rows, and the exact
// rescoring of what the screen let through. `screen(rows, bound)` screens every document into the rows.
template <class Screen>
std::tuple<at::Tensor, at::Tensor, at::Tensor> screenAndRescore(const char* fn, const at::Tensor& qIn,
                                                               const at::Tensor& docsIn, const at::Tensor& errAbsIn,
                                                               double errRel, int64_t k, int64_t chunk,
                                                               Screen&& screen, bool finalPrune = true,
                                                               bool prefetchRows = false,
                                                               const at::Tensor& floorIn = at::Tensor(),
                                                               const std::string& rowFile = std::string(),
                                                               bool rowFileHalf = false) {
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
  // With a row file, docsIn only gives the shape (an expanded view, say: it is not read) and the rows to rescore
  // are read from the file (RowFile).
  const at::Tensor docs = rowFile.empty() ? docsIn.contiguous() : at::Tensor();
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
  if (floorIn.defined()) {
    if (floorIn.scalar_type() != at::kFloat || floorIn.dim() != 1 || floorIn.size(0) != B || !floorIn.device().is_cpu())
      throw std::invalid_argument(f + ": floor must be float32 [B]");
    const at::Tensor fl = floorIn.contiguous();
    const float* fp = fl.data_ptr<float>();
    for (int64_t b = 0; b < B; b++) {
      if (std::isnan(fp[b]) || fp[b] == std::numeric_limits<float>::infinity())
        throw std::invalid_argument(f + ": floor must be finite or -inf");
      Row& r = rows[b];
      r.floor = fp[b];
      r.lowK = fp[b];
      r.floorTau = thresholdFor(fp[b], bound(b));
      r.key = keyAtOrBelow(r.floorTau);
      r.key32 = keyAtOrBelow32(r.floorTau);
    }
  }
  screen(rows, bound);

  float* so = scores.data_ptr<float>();
  int64_t* io = ids.data_ptr<int64_t>();
  int64_t* ro = rescored.data_ptr<int64_t>();
  const float* qp = q.data_ptr<float>();
  const float* dp = rowFile.empty() ? docs.data_ptr<float>() : nullptr;
  const RowFile file(rowFile, rowFileHalf, N, D);
  at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
    std::vector<float> tmp;
    std::vector<float> exact;
    std::vector<int32_t> order;
    std::vector<float> row(dp == nullptr ? static_cast<size_t>(D) : 0);
    std::vector<uint16_t> scratch;
    for (int64_t b = b0; b < b1; b++) {
      Row& r = rows[b];
      if (finalPrune) prune(r, k, bound(b), tmp);
      const size_t n = r.v.size();
      ro[b] = static_cast<int64_t>(n);
      exact.resize(n);
      // Candidates are in ascending offset order, which also keeps the row reads moving forward through memory
      // (or through the row file).
      // (Software prefetching of the next rows measured slower than leaving it to the hardware.)
      // The int8 screen leaves hundreds of rows per query to rescore: prefetching two rows ahead measured 6% faster
      // at 200k × 768 (cpu seconds on the loaded 2-core EPYC); with the bf16 screen's few rows it measured slower.
      if (dp == nullptr) {
        for (size_t i = 0; i < n; i++) {
          file.read(r.id[i], row.data(), scratch);
          exact[i] = dot(qp + b * D, row.data(), D);
        }
      } else if (prefetchRows) {
        for (size_t i = 0; i < n; i++) {
          if (i + 2 < n) {
            const char* nx = reinterpret_cast<const char*>(dp + static_cast<int64_t>(r.id[i + 2]) * D);
            for (int64_t o = 0; o < D * 4; o += 64) __builtin_prefetch(nx + o);
          }
          exact[i] = dot(qp + b * D, dp + static_cast<int64_t>(r.id[i]) * D, D);
        }
      } else {
        for (size_t i = 0; i < n; i++) exact[i] = dot(qp + b * D, dp + static_cast<int64_t>(r.id[i]) * D, D);
      }
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
                                                                int64_t chunk, const at::Tensor& floor) {
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
  }, true, false, floor);
}

// ---- int8 screen (AVX512-VNNI) ----

namespace {

constexpr int64_t kPanel = kInt8PanelRows;  // documents per panel: two zmm of 16 documents × 4 dimensions
constexpr int kQueryTile = 12;  // queries per register tile: 24 int32 accumulators + 2 document + 1 query register
constexpr int kUp = _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC;
constexpr int kDown = _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC;

// The int8 error model of one query against document d: |screen − exact| <= alpha·a_d + beta·c_d + tiny + rel·|screen|.
struct Int8Bound {
  float alpha, beta;  // per query (||q||, ||q − s_q·q̂|| from the caller)
  double emax;        // alpha·max a_d + beta·max c_d + tiny, inflated for the kernel's own roundings
  double rel;         // rel plus those roundings
};

inline float floatAtOrAbove(double x) {
  float f = static_cast<float>(x);
  if (static_cast<double>(f) < x) f = floatUp(f);
  return f;
}

// A float32 screen value below which no document's rounded-up upper bound (at most s + emax + rel·|s|) reaches
// lowK: the x solving x + emax + rel·|x| = lowK, lowered by a relative 2^-40 for the float64 arithmetic, rounded down.
float cheapThreshold(float lowK, const Int8Bound& e) {
  if (!(lowK > -std::numeric_limits<float>::infinity())) return -std::numeric_limits<float>::infinity();
  const double x = static_cast<double>(lowK) - e.emax;
  double t = x >= 0 ? x / (1 + e.rel) : x / (1 - e.rel);
  t -= std::ldexp(std::fabs(lowK) + e.emax, -40);
  float f = static_cast<float>(t);
  if (static_cast<double>(f) > t) f = floatDown(f);
  return f;
}

// prune for the int8 screen's per-document bounds: lowK = the k-th largest lower bound among the candidates (k of
// them score at least that, so the k-th best exact score does), and a candidate stays while its upper bound reaches
// it. Dropped candidates had upper bounds below an older, lower lowK, so the k-th largest lower bound among those
// kept is the k-th largest seen.
void prune8(Row& r, int64_t k, const Int8Bound& e, std::vector<float>& tmp) {
  if (r.v.size() <= static_cast<size_t>(k)) return;
  tmp.assign(r.v.begin(), r.v.end());
  std::nth_element(tmp.begin(), tmp.begin() + (k - 1), tmp.end(), std::greater<float>());
  r.lowK = std::max(tmp[static_cast<size_t>(k - 1)], r.floor);
  r.tau = cheapThreshold(r.lowK, e);
  size_t w = 0;
  for (size_t i = 0; i < r.v.size(); i++) {
    if (r.hi[i] >= r.lowK) {
      r.v[w] = r.v[i];
      r.hi[w] = r.hi[i];
      r.id[w] = r.id[i];
      w++;
    }
  }
  r.v.resize(w);
  r.hi.resize(w);
  r.id.resize(w);
}

// Records a new int8 candidate's lower bound l among r's k largest; true when that raised lowK (the caller then
// raises its cheap threshold to match). lowK stays the k-th largest lower bound seen, as prune8 computes it: a
// candidate dropped by a prune had an upper bound, hence a lower bound, below an older lowK. Measured at 200k × 768
// (perf samples of the search, loaded 2-core EPYC): 8-13% less time than raising lowK only at each prune, with
// every kernel; at 1M × 128, where candidates are not refined, no change beyond the noise.
inline bool noteLowerBound(Row& r, float l, int64_t k) {
  const auto kk = static_cast<size_t>(k);
  if (r.topL.size() < kk) {
    r.topL.push_back(l);
    std::push_heap(r.topL.begin(), r.topL.end(), std::greater<float>());
    if (r.topL.size() < kk) return false;
  } else {
    if (!(l > r.topL.front())) return false;
    std::pop_heap(r.topL.begin(), r.topL.end(), std::greater<float>());
    r.topL.back() = l;
    std::push_heap(r.topL.begin(), r.topL.end(), std::greater<float>());
  }
  const float nk = std::max(r.topL.front(), r.floor);
  if (!(nk > r.lowK)) return false;
  r.lowK = nk;
  return true;
}

// What every int8 kernel reads: the queries' screen and refinement codes, the documents' panels, the error terms.
struct Int8Args {
  int64_t D, Dp, N, Np;
  const uint8_t* qc;    // [B, Dp] screen codes q̂ + qOffset
  int32_t qOffset;
  const float* qs;      // [B] s_q
  const uint8_t* qc2;   // [B, Dp] refinement codes q̂2 + qOffset of r = q − s_q·q̂
  const float* qs2;     // [B] s2
  const float* qe;      // [3B] per query: ||q||, ||r||, ||r − s2·q̂2|| (rounded up)
  const int8_t* dc;     // panels of document codes
  const float* ds;      // [Np] s_d
  const int32_t* dsum;  // [Np] Σd̂
  const float* de;      // [2Np] a_d, then c_d
  double maxA, maxC, tinyAbs, rel;
};

// Each query's bound terms for an int8 screen of queries b0…b1, its cheap threshold from lowK (a caller's floor, else
// -inf) and, where survivors are refined, a small pruning cap (pruning stays amortized by the cap doubling in the
// kernels; lowK itself rises with each candidate, noteLowerBound). Shared by every kernel.
std::vector<Int8Bound> int8RowBounds(std::vector<Row>& rows, const Int8Args& a, int64_t b0, int64_t b1, bool refine,
                                     int64_t k) {
  const double u = std::ldexp(1.0, -24);
  std::vector<Int8Bound> eb(static_cast<size_t>(b1 - b0));
  for (int64_t b = b0; b < b1; b++) {
    const float alpha = a.qe[3 * b], beta = a.qe[3 * b + 1];
    // The kernels' rounded-up e, hi: at most 3 and 2 float32 roundings upward beyond the exact sums.
    eb[b - b0] = {alpha, beta, (alpha * a.maxA + beta * a.maxC + a.tinyAbs) * (1 + 8 * u), a.rel + 3 * u};
    rows[b].tau = cheapThreshold(rows[b].lowK, eb[b - b0]);
    if (refine) rows[b].cap = static_cast<size_t>(2 * k + 16);
  }
  return eb;
}

// The last prune of queries b0…b1 after an int8 screen; their upper bounds are not needed past it.
void finishInt8Rows(std::vector<Row>& rows, int64_t b0, int64_t b1, const std::vector<Int8Bound>& eb, int64_t k,
                    std::vector<float>& tmp) {
  for (int64_t b = b0; b < b1; b++) {
    prune8(rows[b], k, eb[b - b0], tmp);
    std::vector<float>().swap(rows[b].hi);
    std::vector<float>().swap(rows[b].topL);
  }
}

// One tile: QT queries × one panel of 32 documents, int32 sums of (q̂ + 128)·d̂ over all Dp/4 groups of 4 dims,
// stored to out[j][0…31]. The accumulators stay in registers (fully unrolled over the queries).
template <int QT>
__attribute__((target("avx512f,avx512bw,avx512vnni"))) void int8Tile(const uint8_t* const* qr, const int8_t* panel,
                                                                       int64_t G, int32_t (*out)[32]) {
  __m512i acc[QT][2];
#pragma GCC unroll 16
  for (int j = 0; j < QT; j++) acc[j][0] = acc[j][1] = _mm512_setzero_si512();
  const uint8_t* q[QT];
#pragma GCC unroll 16
  for (int j = 0; j < QT; j++) q[j] = qr[j];
  for (int64_t g = 0; g < G; g++) {
    const __m512i d0 = _mm512_loadu_si512(panel + 128 * g);
    const __m512i d1 = _mm512_loadu_si512(panel + 128 * g + 64);
#pragma GCC unroll 16
    for (int j = 0; j < QT; j++) {
      int32_t w;
      std::memcpy(&w, q[j] + 4 * g, sizeof w);
      const __m512i qb = _mm512_set1_epi32(w);
      acc[j][0] = _mm512_dpbusd_epi32(acc[j][0], qb, d0);
      acc[j][1] = _mm512_dpbusd_epi32(acc[j][1], qb, d1);
    }
  }
#pragma GCC unroll 16
  for (int j = 0; j < QT; j++) {
    _mm512_storeu_si512(out[j], acc[j][0]);
    _mm512_storeu_si512(out[j] + 16, acc[j][1]);
  }
}

// Each screen value's bounds, rounded outward: lo <= exact <= hi whenever the caller's error model holds.
__attribute__((target("avx512f,avx512bw,avx512vnni"), always_inline)) inline void int8Bounds(
    __m512 s, __m512 a, __m512 c, __m512 alpha, __m512 beta, __m512 tiny, __m512 rel, __m512& lo, __m512& hi) {
  __m512 e = _mm512_fmadd_round_ps(alpha, a, _mm512_mul_round_ps(beta, c, kUp), kUp);
  e = _mm512_add_round_ps(e, tiny, kUp);
  const __m512 as = _mm512_abs_ps(s);
  hi = _mm512_fmadd_round_ps(rel, as, _mm512_add_round_ps(s, e, kUp), kUp);
  lo = _mm512_fnmadd_round_ps(rel, as, _mm512_sub_round_ps(s, e, kDown), kDown);
}

// The int8 kernels' float64 bound arithmetic is widened by a relative 2^-40 for its own products and sums, and a
// bound s ± err by 2^-50·|s| for that sum's rounding, before the outward rounding to float32.
constexpr double kWiden = 1 + 0x1p-40;
constexpr double kUlpS = 0x1p-50;

inline float floatAtOrBelow(double x) {
  float f = static_cast<float>(x);
  if (static_cast<double>(f) > x) f = floatDown(f);
  return f;
}

// A panel's codes (byte e of dims 4g…4g+3 of its row y at 128g + 4y + e) as 32 rows of Dp bytes: a transpose of
// G × 32 four-byte groups, 8 × 8 at a time in registers. Measured at 200k × 768 (AVX2 kernel): copying group by
// group (4-byte loads and stores, 32 store streams Dp apart) took 3% of the search.
__attribute__((target("avx2"))) void transposePanel(const int8_t* panel, int64_t G, int64_t Dp, int8_t* rows) {
  int64_t g0 = 0;
  for (; g0 + 8 <= G; g0 += 8) {
    for (int64_t y0 = 0; y0 < kPanel; y0 += 8) {
      __m256 r[8];
#pragma GCC unroll 8
      for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(reinterpret_cast<const float*>(panel + 128 * (g0 + i) + 4 * y0));
      const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
      const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
      const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
      const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
      const __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)), u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
      const __m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)), u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
      const __m256 u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0)), u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
      const __m256 u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0)), u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
      const __m256 w[8] = {_mm256_permute2f128_ps(u0, u4, 0x20), _mm256_permute2f128_ps(u1, u5, 0x20),
                           _mm256_permute2f128_ps(u2, u6, 0x20), _mm256_permute2f128_ps(u3, u7, 0x20),
                           _mm256_permute2f128_ps(u0, u4, 0x31), _mm256_permute2f128_ps(u1, u5, 0x31),
                           _mm256_permute2f128_ps(u2, u6, 0x31), _mm256_permute2f128_ps(u3, u7, 0x31)};
#pragma GCC unroll 8
      for (int y = 0; y < 8; y++) _mm256_storeu_ps(reinterpret_cast<float*>(rows + (y0 + y) * Dp + 4 * g0), w[y]);
    }
  }
  for (; g0 < G; g0++)
    for (int64_t y = 0; y < kPanel; y++) std::memcpy(rows + y * Dp + 4 * g0, panel + 128 * g0 + 4 * y, 4);
}

// The refinement every kernel applies to the screen's survivors at D >= 256, where rescoring a row is dear. The
// caller codes each query's screen residual r = q − s_q·q̂ again (r ≈ s2·q̂2, int8Quantize with the screen's levels)
// and passes ||r2|| = ||r − s2·q̂2||, rounded up. With the screen's exact I1 = q̂·d̂ and I2 = q̂2·d̂ (an integer row
// dot), R = s_d·(s_q·I1 + s2·I2) differs from q·d by q·r_d + r2·(s_d·d̂), so
//   |R − f| <= ||q||·a_d + ||r2||·c_d + (float64 roundings)
// (a_d also covers the rescored f's rounding). ||r2|| ≈ ||r_q||/L is far below the screen's ||r_q||: what remains is
// mostly the document's residual. The float64 arithmetic (two products, a sum, a product: 2^-53 each) errs by at
// most 2^-50·(|s_q·q̂·s_d·d̂| + |s2·q̂2·s_d·d̂|) <= 2^-50·(||q|| + 2·||r_q|| + ||r2||)·c_d; twice that covers alpha's and
// beta's rounding to float32. Measured at 200k × 768 (AVX2 kernel): 6% faster searches than a float32 refinement
// (Σ q_i·d̂_i by FMAs), whose bound leaves γ_D·||q||·c_d instead.
inline double refineBeta(double alpha, double beta, double beta2) {
  return beta2 + (alpha + 2 * beta + beta2) * 0x1p-49;
}
// The refined score's bounds, rounded outward (kWiden, kUlpS).
inline void refineBounds(int32_t i1, int32_t i2, double sq, double sq2, float sd, double alpha, double a, double betaR,
                         double c, double tinyAbs, float& lo, float& hi) {
  const double R = (sq * i1 + sq2 * i2) * static_cast<double>(sd);
  const double err = (alpha * a + betaR * c + tinyAbs) * kWiden + std::fabs(R) * kUlpS;
  lo = floatAtOrBelow(R - err);
  hi = floatAtOrAbove(R + err);
}

// Σ u_i·d̂_i over one row of Dp codes (u unsigned, as the tiles take queries), exact in int32 (|Σ| < Dp·255·128).
__attribute__((target("avx512f,avx512bw,avx512vnni"))) int32_t rowDot512(const uint8_t* u, const int8_t* row, int64_t Dp) {
  __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512();
  int64_t i = 0;
  for (; i + 128 <= Dp; i += 128) {
    a0 = _mm512_dpbusd_epi32(a0, _mm512_loadu_si512(u + i), _mm512_loadu_si512(row + i));
    a1 = _mm512_dpbusd_epi32(a1, _mm512_loadu_si512(u + i + 64), _mm512_loadu_si512(row + i + 64));
  }
  for (; i < Dp; i += 64) {
    const __mmask64 m = Dp - i >= 64 ? ~0ULL : (1ULL << (Dp - i)) - 1;
    a0 = _mm512_dpbusd_epi32(a0, _mm512_maskz_loadu_epi8(m, u + i), _mm512_maskz_loadu_epi8(m, row + i));
  }
  return _mm512_reduce_add_epi32(_mm512_add_epi32(a0, a1));
}

// Screens queries b0…b1 against every panel: each tile's scores s_q·s_d·(q̂·d̂) are compared with the queries'
// cheap thresholds in registers; only the rare lanes above one get their per-document bounds, and those whose upper
// bound reaches the query's lowK are appended (lower bound, upper bound, offset) in ascending offset order (panels
// in order, lanes in order). No score block is written.
__attribute__((target("avx512f,avx512bw,avx512vnni"))) void int8ScreenQueries(const Int8Args& a, int64_t b0,
                                                                                int64_t b1, std::vector<Row>& rows,
                                                                                int64_t k) {
  const int64_t D = a.D, Dp = a.Dp, N = a.N, Np = a.Np;
  const uint8_t* qc = a.qc;
  const int8_t* dc = a.dc;
  const float *qs = a.qs, *ds = a.ds, *de = a.de;
  const int32_t* dsum = a.dsum;
  const int64_t G = Dp / 4;
  const int64_t P = (N + kPanel - 1) / kPanel;
  // Refining pays where rescoring a row is dear: measured (cpu seconds, loaded 2-core EPYC) 7-10% faster at
  // 200k × 768, 7% slower at 1M × 128, where rescored rows are short and few.
  const bool refine = D >= 256;
  const std::vector<Int8Bound> eb = int8RowBounds(rows, a, b0, b1, refine, k);
  const __m512 tiny = _mm512_set1_ps(floatAtOrAbove(a.tinyAbs));
  const __m512 relv = _mm512_set1_ps(floatAtOrAbove(a.rel));
  std::vector<float> tmp;
  // The current panel's codes transposed to rows (32 × Dp), made at its first refinement: each refinement then
  // reads its document's codes contiguously.
  std::vector<int8_t> panelRows(refine ? static_cast<size_t>(kPanel * Dp) : 0);
  int64_t rowsOf = -1;
  alignas(64) int32_t acc[kQueryTile][32];
  alignas(64) int32_t cs[32];
  alignas(64) float lo[32];
  alignas(64) float hi[32];
  for (int64_t p = 0; p < P; p++) {
    const int8_t* panel = dc + p * kPanel * Dp;
    const int64_t base = p * kPanel;
    const int64_t valid = std::min<int64_t>(kPanel, N - base);
    const __mmask16 v0 = valid >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << valid) - 1);
    const __mmask16 v1 = valid >= 32 ? 0xFFFF : valid <= 16 ? 0 : static_cast<__mmask16>((1u << (valid - 16)) - 1);
    // Σ(q̂ + 128)·d̂ − 128·Σd̂ = q̂·d̂, exact in int32.
    const __m512i c0 = _mm512_slli_epi32(_mm512_loadu_si512(dsum + base), 7);
    const __m512i c1 = _mm512_slli_epi32(_mm512_loadu_si512(dsum + base + 16), 7);
    _mm512_store_si512(cs, c0);
    _mm512_store_si512(cs + 16, c1);
    const __m512 s0 = _mm512_loadu_ps(ds + base);
    const __m512 s1 = _mm512_loadu_ps(ds + base + 16);
    for (int64_t b = b0; b < b1; b += kQueryTile) {
      const int qt = static_cast<int>(std::min<int64_t>(kQueryTile, b1 - b));
      const uint8_t* qr[kQueryTile];
      for (int j = 0; j < kQueryTile; j++) qr[j] = qc + (b + std::min(j, qt - 1)) * Dp;
      switch (qt) {
        case 12: int8Tile<12>(qr, panel, G, acc); break;
        case 11: int8Tile<11>(qr, panel, G, acc); break;
        case 10: int8Tile<10>(qr, panel, G, acc); break;
        case 9: int8Tile<9>(qr, panel, G, acc); break;
        case 8: int8Tile<8>(qr, panel, G, acc); break;
        case 7: int8Tile<7>(qr, panel, G, acc); break;
        case 6: int8Tile<6>(qr, panel, G, acc); break;
        case 5: int8Tile<5>(qr, panel, G, acc); break;
        case 4: int8Tile<4>(qr, panel, G, acc); break;
        case 3: int8Tile<3>(qr, panel, G, acc); break;
        case 2: int8Tile<2>(qr, panel, G, acc); break;
        default: int8Tile<1>(qr, panel, G, acc); break;
      }
      for (int j = 0; j < qt; j++) {
        Row& r = rows[b + j];
        // fl(fl(I) · fl(s_q · s_d)): the order the caller's relative term assumes.
        const __m512 sq = _mm512_set1_ps(qs[b + j]);
        const __m512i a0 = _mm512_load_si512(acc[j]), a1 = _mm512_load_si512(acc[j] + 16);
        const __m512 f0 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(a0, c0)), _mm512_mul_ps(sq, s0));
        const __m512 f1 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(a1, c1)), _mm512_mul_ps(sq, s1));
        const __m512 t = _mm512_set1_ps(r.tau);
        __mmask16 m0 = _mm512_mask_cmp_ps_mask(v0, f0, t, _CMP_GE_OQ);
        __mmask16 m1 = _mm512_mask_cmp_ps_mask(v1, f1, t, _CMP_GE_OQ);
        if ((m0 | m1) == 0) continue;
        const Int8Bound& e = eb[b + j - b0];
        const __m512 alpha = _mm512_set1_ps(e.alpha), beta = _mm512_set1_ps(e.beta);
        const __m512 lowK = _mm512_set1_ps(r.lowK);
        __m512 l0, h0, l1, h1;
        int8Bounds(f0, _mm512_loadu_ps(de + base), _mm512_loadu_ps(de + Np + base), alpha, beta, tiny, relv, l0, h0);
        int8Bounds(f1, _mm512_loadu_ps(de + base + 16), _mm512_loadu_ps(de + Np + base + 16), alpha, beta, tiny, relv, l1, h1);
        m0 = _mm512_mask_cmp_ps_mask(m0, h0, lowK, _CMP_GE_OQ);
        m1 = _mm512_mask_cmp_ps_mask(m1, h1, lowK, _CMP_GE_OQ);
        if ((m0 | m1) == 0) continue;
        if (!refine) {
          _mm512_store_ps(lo, l0);
          _mm512_store_ps(lo + 16, l1);
          _mm512_store_ps(hi, h0);
          _mm512_store_ps(hi + 16, h1);
          bool rose = false;
          for (uint32_t m = static_cast<uint32_t>(m0) | (static_cast<uint32_t>(m1) << 16); m != 0; m &= m - 1) {
            const int x = __builtin_ctz(m);
            r.v.push_back(lo[x]);
            r.hi.push_back(hi[x]);
            r.id.push_back(static_cast<int32_t>(base + x));
            rose |= noteLowerBound(r, lo[x], k);
          }
          if (rose) r.tau = cheapThreshold(r.lowK, e);
        }
        // The survivors are refined while their panel is in cache (refineBounds).
        const double betaR = refineBeta(e.alpha, e.beta, a.qe[3 * (b + j) + 2]);
        const uint8_t* qrow2 = a.qc2 + (b + j) * Dp;
        for (uint32_t m = refine ? static_cast<uint32_t>(m0) | (static_cast<uint32_t>(m1) << 16) : 0; m != 0; m &= m - 1) {
          const int x = __builtin_ctz(m);
          if (rowsOf != p) {
            transposePanel(panel, G, Dp, panelRows.data());
            rowsOf = p;
          }
          const int32_t i2 = rowDot512(qrow2, panelRows.data() + x * Dp, Dp) - 128 * dsum[base + x];
          float l, h;
          refineBounds(acc[j][x] - cs[x], i2, qs[b + j], a.qs2[b + j], ds[base + x], e.alpha, de[base + x], betaR,
                       de[Np + base + x], a.tinyAbs, l, h);
          if (!(h >= r.lowK)) continue;
          r.v.push_back(l);
          r.hi.push_back(h);
          r.id.push_back(static_cast<int32_t>(base + x));
          if (noteLowerBound(r, l, k)) r.tau = cheapThreshold(r.lowK, e);
        }
        if (r.v.size() >= r.cap) {
          prune8(r, k, e, tmp);
          if (2 * r.v.size() > r.cap) r.cap *= 2;
        }
      }
    }
  }
  finishInt8Rows(rows, b0, b1, eb, k, tmp);
}

// The 256-bit screens (native/src/int8_screen256.inc), one per instruction set. The EVEX form of 256-bit VNNI
// (AVX512-VL) computes what AVX-VNNI does with the same code: CPUs with AVX-512 test the AVX-VNNI kernel through it.
#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace avx2 {
#define DRHARD_DOT256(acc, q, d) _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(q, d), ones))
#define DRHARD_QUERY_TILE 4
#include "int8_screen256.inc"
#undef DRHARD_DOT256
#undef DRHARD_QUERY_TILE
}  // namespace avx2
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma,avxvnni")
namespace avxvnni {
#define DRHARD_DOT256(acc, q, d) _mm256_dpbusd_avx_epi32(acc, q, d)
#define DRHARD_QUERY_TILE 6
#include "int8_screen256.inc"
#undef DRHARD_DOT256
#undef DRHARD_QUERY_TILE
}  // namespace avxvnni
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma,avx512f,avx512vl,avx512vnni")
namespace vnni256 {
#define DRHARD_DOT256(acc, q, d) _mm256_dpbusd_epi32(acc, q, d)
#define DRHARD_QUERY_TILE 6
#include "int8_screen256.inc"
#undef DRHARD_DOT256
#undef DRHARD_QUERY_TILE
}  // namespace vnni256
#pragma GCC pop_options

void checkVector(const at::Tensor& t, at::ScalarType type, int64_t n, const char* name) {
  if (!t.device().is_cpu() || t.dim() != 1 || t.scalar_type() != type || t.size(0) != n || !t.is_contiguous())
    throw std::invalid_argument(std::string("int8ScreenedTopk: ") + name + " must be a contiguous CPU " +
                                c10::toString(type) + " vector of " + std::to_string(n));
}

}  // namespace

std::vector<std::string> int8ScreenIsas() {
  static const std::vector<std::string> isas = [] {
    std::vector<std::string> v;
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    const bool vnni512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                         __builtin_cpu_supports("avx512vnni");
    if (vnni512) v.emplace_back("avx512-vnni");
    if (avx2 && __builtin_cpu_supports("avxvnni")) v.emplace_back("avx-vnni");
    if (avx2 && vnni512 && __builtin_cpu_supports("avx512vl")) v.emplace_back("avx512vl-vnni");
    if (avx2) v.emplace_back("avx2");
    return v;
  }();
  return isas;
}

bool int8ScreenSupported() { return !int8ScreenIsas().empty(); }

// int8Quantize: native/src/quantize_core.cpp.

std::tuple<at::Tensor, at::Tensor, at::Tensor> int8ScreenedTopk(const at::Tensor& qIn, const at::Tensor& docsIn,
                                                               const at::Tensor& qCodes, const at::Tensor& qScale,
                                                               const at::Tensor& qErr, const at::Tensor& qCodes2,
                                                               const at::Tensor& qScale2, const at::Tensor& dCodes,
                                                               const at::Tensor& dScale, const at::Tensor& dSum,
                                                               const at::Tensor& dErr, double tinyAbs, double errRel,
                                                               int64_t k, const std::string& isa, int64_t qOffset,
                                                               const at::Tensor& floor, const std::string& rowFile,
                                                               bool rowFileHalf) {
  const auto& isas = int8ScreenIsas();
  if (std::find(isas.begin(), isas.end(), isa) == isas.end())
    throw std::invalid_argument("int8ScreenedTopk: this CPU does not run the '" + isa + "' int8 screen");
  if (qOffset < 1 || qOffset > 128 || (isa == "avx512-vnni" && qOffset != 128))
    throw std::invalid_argument("int8ScreenedTopk: query code offset " + std::to_string(qOffset) + " does not suit the '" +
                                isa + "' screen (128 for VNNI, levels + 1 <= 128 otherwise)");
  checkMatrix(qIn, at::kFloat, "queries");
  checkMatrix(docsIn, at::kFloat, "documents");
  const int64_t B = qIn.size(0), D = qIn.size(1), N = docsIn.size(0);
  const int64_t Dp = (D + 3) / 4 * 4, Np = (N + kPanel - 1) / kPanel * kPanel;
  if (docsIn.size(1) != D) throw std::invalid_argument("int8ScreenedTopk: queries [B, D] and documents [N, D] must agree");
  if (D > 65536) throw std::invalid_argument("int8ScreenedTopk: more than 65536 dimensions (int32 sums could overflow)");
  if (!qCodes.device().is_cpu() || qCodes.scalar_type() != at::kByte || qCodes.dim() != 2 || qCodes.size(0) != B ||
      qCodes.size(1) != Dp || !qCodes.is_contiguous())
    throw std::invalid_argument("int8ScreenedTopk: query codes must be contiguous uint8 [B, Dp] (int8Quantize)");
  if (!qCodes2.device().is_cpu() || qCodes2.scalar_type() != at::kByte || qCodes2.dim() != 2 || qCodes2.size(0) != B ||
      qCodes2.size(1) != Dp || !qCodes2.is_contiguous())
    throw std::invalid_argument("int8ScreenedTopk: refinement codes must be contiguous uint8 [B, Dp] (int8Quantize)");
  if (!dCodes.device().is_cpu() || dCodes.scalar_type() != at::kChar || dCodes.dim() != 1 ||
      dCodes.size(0) != Np * Dp || !dCodes.is_contiguous())
    throw std::invalid_argument("int8ScreenedTopk: document codes must be contiguous int8 panels [Np·Dp] (int8Quantize)");
  checkVector(qScale, at::kFloat, B, "query scales");
  checkVector(qScale2, at::kFloat, B, "refinement scales");
  checkVector(qErr, at::kFloat, 3 * B, "query error terms");
  checkVector(dScale, at::kFloat, Np, "document scales");
  checkVector(dSum, at::kInt, Np, "document code sums");
  checkVector(dErr, at::kFloat, 2 * Np, "document error terms");
  if (!(errRel >= 0 && errRel < 0.5)) throw std::invalid_argument("int8ScreenedTopk: errRel must be in [0, 0.5)");
  if (!(tinyAbs >= 0 && tinyAbs < 1e-30)) throw std::invalid_argument("int8ScreenedTopk: tinyAbs must be in [0, 1e-30)");
  const float* qe = qErr.data_ptr<float>();
  const float* de = dErr.data_ptr<float>();
  for (int64_t i = 0; i < 3 * B; i++)
    if (!(qe[i] >= 0) || std::isinf(qe[i])) throw std::invalid_argument("int8ScreenedTopk: query error terms must be finite and >= 0");
  double maxA = 0, maxC = 0;
  for (int64_t i = 0; i < N; i++) {
    if (!(de[i] >= 0) || !(de[Np + i] >= 0) || std::isinf(de[i]) || std::isinf(de[Np + i]))
      throw std::invalid_argument("int8ScreenedTopk: document error terms must be finite and >= 0");
    maxA = std::max<double>(maxA, de[i]);
    maxC = std::max<double>(maxC, de[Np + i]);
  }
  if (isa == "avx2") {
    // vpmaddubsw's int16 pair sums saturate above 2·127·127: queries must be coded in 7 bits (levels <= 63).
    for (const at::Tensor* c : {&qCodes, &qCodes2}) {
      const uint8_t* qc = reinterpret_cast<const uint8_t*>(c->data_ptr());
      if (B > 0 && *std::max_element(qc, qc + B * Dp) > 127)
        throw std::invalid_argument("int8ScreenedTopk: the 'avx2' screen needs query codes <= 127 (int8Quantize levels <= 63)");
    }
  }
  // screenAndRescore's own bound is unused: the screen leaves each row pruned by its per-document bounds.
  const at::Tensor noBound = at::zeros({B}, at::kFloat);
  return screenAndRescore("int8ScreenedTopk", qIn, docsIn, noBound, errRel, k, 1,
                          [&](std::vector<Row>& rows, const auto&) {
    const Int8Args args{D,
                        Dp,
                        N,
                        Np,
                        reinterpret_cast<const uint8_t*>(qCodes.data_ptr()),
                        static_cast<int32_t>(qOffset),
                        qScale.data_ptr<float>(),
                        reinterpret_cast<const uint8_t*>(qCodes2.data_ptr()),
                        qScale2.data_ptr<float>(),
                        qe,
                        reinterpret_cast<const int8_t*>(dCodes.data_ptr()),
                        dScale.data_ptr<float>(),
                        dSum.data_ptr<int32_t>(),
                        de,
                        maxA,
                        maxC,
                        tinyAbs,
                        errRel};
    // Each thread screens its own slice of the queries against every panel (as sgemmScreenedTopk does): the
    // documents stream once per thread, the slice's codes stay in its core's L2.
    const int nt = at::get_num_threads();
    const int64_t grain = std::max<int64_t>(1, (B + nt - 1) / nt);
    const auto kernel = isa == "avx512-vnni" ? int8ScreenQueries
                        : isa == "avx-vnni"  ? avxvnni::screenQueries
                        : isa == "avx512vl-vnni" ? vnni256::screenQueries
                                                 : avx2::screenQueries;
    at::parallel_for(0, B, grain, [&](int64_t b0, int64_t b1) { kernel(args, b0, b1, rows, k); });
  }, false, /*prefetchRows=*/true, floor, rowFile, rowFileHalf);
}

}  // namespace drhard
