// N-API glue: converts JS arguments, calls libtorch/faiss, returns handles; every C++ exception becomes a JS Error.
// Tensors cross the boundary as External<Holder>: one JS object owns one at::Tensor (dispose() frees it at once,
// the finalizer is the safety net). Op families (unary/binary/reduce/inplace) are dispatched by integer codes
// whose order is mirrored in src/native/addon.ts.
#include <napi.h>

#include <atomic>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <cmath>
#include <mutex>
#include <tuple>

#include "dist_core.h"
#include "dropout_core.h"
#include "faiss_core.h"
#include "optim_core.h"
#include "search_core.h"
#include "tensor_core.h"

using drhard::errorMessage;

namespace {

struct Holder {
  at::Tensor t;
  int64_t bytes = 0;
};
std::atomic<int64_t> gLive{0};

// Reports native bytes to V8 (so GC pressure reflects tensor memory) in 1 MiB steps: one V8 call per op would
// dominate the cost of small ops. Only touched on the JS thread.
int64_t gPendingBytes = 0;
void accountBytes(Napi::Env env, int64_t delta) {
  gPendingBytes += delta;
  if (gPendingBytes > (1 << 20) || gPendingBytes < -(1 << 20)) {
    Napi::MemoryManagement::AdjustExternalMemory(env, gPendingBytes);
    gPendingBytes = 0;
  }
}

#define FN(name) Napi::Value name(const Napi::CallbackInfo& info)
#define GUARD_BEGIN try {
#define GUARD_END                                                 \
  }                                                               \
  catch (const Napi::Error&) {                                    \
    throw;                                                        \
  }                                                               \
  catch (const std::exception& e) {                               \
    throw Napi::Error::New(info.Env(), errorMessage(e));          \
  }                                                               \
  catch (...) {                                                   \
    throw Napi::Error::New(info.Env(), "unknown native error");   \
  }

// Handles carry no N-API finalizer: Node defers those to the event loop, so a synchronous training loop would pile
// up millions of pending ones. The JS side frees each handle exactly once: dispose(), or its FinalizationRegistry
// when a Tensor is garbage-collected undisposed. After that the External must never be passed in again (the
// Tensor class nulls its handle).
Napi::Value wrap(Napi::Env env, at::Tensor t) {
  auto* h = new Holder{std::move(t), 0};
  if (h->t.defined()) {
    // Only a tensor that alone holds its storage reports it: views (narrow, transpose, view …) share their base's
    // bytes, and counting them again made V8 see phantom gigabytes and run full GCs between GEMMs (a bfloat16 GEMM
    // loop inside tidy() ran 35% slower, measured).
    const bool owner = h->t.device().is_cpu() && h->t.has_storage() && h->t.storage().use_count() == 1;
    h->bytes = owner ? static_cast<int64_t>(h->t.storage().nbytes()) : 0;
    gLive++;
    if (h->bytes) accountBytes(env, h->bytes);
  }
  return Napi::External<Holder>::New(env, h);
}

at::Tensor& T(const Napi::Value& v) {
  if (!v.IsExternal()) throw std::invalid_argument("expected a tensor handle");
  Holder* h = v.As<Napi::External<Holder>>().Data();
  if (!h->t.defined()) throw std::invalid_argument("tensor was disposed");
  return h->t;
}

std::vector<int64_t> ints(const Napi::Value& v) {
  if (!v.IsArray()) throw std::invalid_argument("expected an array of integers");
  auto a = v.As<Napi::Array>();
  std::vector<int64_t> out(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) out[i] = a.Get(i).As<Napi::Number>().Int64Value();
  return out;
}

int64_t i64(const Napi::Value& v) { return v.As<Napi::Number>().Int64Value(); }
double f64(const Napi::Value& v) { return v.As<Napi::Number>().DoubleValue(); }
bool isNone(const Napi::Value& v) { return v.IsUndefined() || v.IsNull(); }
// JS has one number type: integral values become integer scalars so integer tensors keep their dtype
// (`int64.add(1)` stays int64, as Python's `t + 1`); float tensors still promote an integer scalar to their dtype.
at::Scalar scalarOf(const Napi::Value& v) {
  const double d = f64(v);
  if (std::nearbyint(d) == d && std::fabs(d) < 9.0e15) return at::Scalar(static_cast<int64_t>(d));
  return at::Scalar(d);
}
at::Scalar alphaOf(const Napi::CallbackInfo& info, size_t i) {
  return info.Length() > i && !isNone(info[i]) ? scalarOf(info[i]) : at::Scalar(static_cast<int64_t>(1));
}

at::TensorOptions opts(const Napi::CallbackInfo& info, size_t dtypeArg, size_t deviceArg) {
  at::TensorOptions o;
  if (info.Length() > dtypeArg && !isNone(info[dtypeArg]))
    o = o.dtype(drhard::dtypeFromCode(static_cast<int>(i64(info[dtypeArg]))));
  if (info.Length() > deviceArg && !isNone(info[deviceArg]))
    o = o.device(at::Device(info[deviceArg].As<Napi::String>().Utf8Value()));
  return o;
}

// Every tensor of a kernel's tuple, in order, as a JS array of handles.
template <class... Ts>
Napi::Value wrapAll(Napi::Env env, std::tuple<Ts...> t) {
  auto arr = Napi::Array::New(env, sizeof...(Ts));
  uint32_t i = 0;
  std::apply([&](auto&... x) { (arr.Set(i++, wrap(env, std::move(x))), ...); }, t);
  return arr;
}

Napi::Value pair(Napi::Env env, at::Tensor a, at::Tensor b) {
  auto arr = Napi::Array::New(env, 2);
  arr.Set(0u, wrap(env, std::move(a)));
  arr.Set(1u, wrap(env, std::move(b)));
  return arr;
}

// ---- lifetime and metadata ----
FN(dispose) {
  GUARD_BEGIN
  if (!info[0].IsExternal()) throw std::invalid_argument("expected a tensor handle");
  Holder* h = info[0].As<Napi::External<Holder>>().Data();
  if (h->t.defined()) {
    gLive--;
    if (h->bytes) accountBytes(info.Env(), -h->bytes);
  }
  delete h;
  return info.Env().Undefined();
  GUARD_END
}
FN(liveTensors) { return Napi::Number::New(info.Env(), static_cast<double>(gLive.load())); }
FN(shape) {
  GUARD_BEGIN
  auto& t = T(info[0]);
  auto s = t.sizes();
  auto a = Napi::Array::New(info.Env(), s.size());
  for (size_t i = 0; i < s.size(); i++) a.Set(static_cast<uint32_t>(i), Napi::Number::New(info.Env(), s[i]));
  return a;
  GUARD_END
}
FN(dtype) {
  GUARD_BEGIN
  return Napi::Number::New(info.Env(), drhard::dtypeCode(T(info[0]).scalar_type()));
  GUARD_END
}
FN(device) {
  GUARD_BEGIN
  return Napi::String::New(info.Env(), T(info[0]).device().str());
  GUARD_END
}

// ---- data in and out ----
FN(fromBuffer) {
  GUARD_BEGIN
  const void* data;
  size_t nbytes;
  if (info[0].IsTypedArray()) {
    auto ta = info[0].As<Napi::TypedArray>();
    auto ab = ta.ArrayBuffer();
    data = static_cast<const char*>(ab.Data()) + ta.ByteOffset();
    nbytes = ta.ByteLength();
  } else if (info[0].IsArrayBuffer()) {
    auto ab = info[0].As<Napi::ArrayBuffer>();
    data = ab.Data();
    nbytes = ab.ByteLength();
  } else {
    throw std::invalid_argument("expected a TypedArray or ArrayBuffer");
  }
  at::Tensor t = drhard::fromBytes(data, nbytes, ints(info[1]), drhard::dtypeFromCode(static_cast<int>(i64(info[2]))));
  if (info.Length() > 3 && !isNone(info[3])) t = t.to(at::Device(info[3].As<Napi::String>().Utf8Value()));
  return wrap(info.Env(), std::move(t));
  GUARD_END
}
FN(toBuffer) {
  GUARD_BEGIN
  auto& t = T(info[0]);
  size_t nbytes = static_cast<size_t>(t.numel()) * t.element_size();
  auto ab = Napi::ArrayBuffer::New(info.Env(), nbytes);
  drhard::copyToBytes(t, ab.Data(), nbytes);
  return ab;
  GUARD_END
}
FN(item) {
  GUARD_BEGIN
  return Napi::Number::New(info.Env(), T(info[0]).item<double>());
  GUARD_END
}
FN(fromFile) {
  GUARD_BEGIN
  return wrap(info.Env(), drhard::fromFile(info[0].As<Napi::String>().Utf8Value(), i64(info[1]), ints(info[2]),
                                           drhard::dtypeFromCode(static_cast<int>(i64(info[3])))));
  GUARD_END
}
FN(readFileInto) {
  GUARD_BEGIN
  drhard::readFileInto(info[0].As<Napi::String>().Utf8Value(), i64(info[1]), T(info[2]));
  return info.Env().Undefined();
  GUARD_END
}

// ---- creation: create(kind, shape, dtype, device, a, b, c) ----
enum Create { C_ZEROS, C_ONES, C_EMPTY, C_FULL, C_RANDN, C_RAND, C_RANDINT, C_ARANGE, C_RANDPERM, C_LINSPACE };
FN(create) {
  GUARD_BEGIN
  int kind = static_cast<int>(i64(info[0]));
  auto o = opts(info, 2, 3);
  at::Tensor t;
  switch (kind) {
    case C_ZEROS: t = at::zeros(ints(info[1]), o); break;
    case C_ONES: t = at::ones(ints(info[1]), o); break;
    case C_EMPTY: t = at::empty(ints(info[1]), o); break;
    case C_FULL: t = at::full(ints(info[1]), f64(info[4]), o); break;
    case C_RANDN: t = at::randn(ints(info[1]), o); break;
    case C_RAND: t = at::rand(ints(info[1]), o); break;
    case C_RANDINT: t = at::randint(i64(info[4]), i64(info[5]), ints(info[1]), o); break;
    case C_ARANGE: t = at::arange(f64(info[4]), f64(info[5]), f64(info[6]), o); break;
    case C_RANDPERM: t = at::randperm(i64(info[4]), o.dtype_opt() ? o : o.dtype(at::kLong)); break;
    case C_LINSPACE: t = at::linspace(f64(info[4]), f64(info[5]), i64(info[6]), o); break;
    default: throw std::invalid_argument("unknown create kind");
  }
  return wrap(info.Env(), std::move(t));
  GUARD_END
}

// ---- unary ops ----
enum Unary {
  U_NEG, U_SQRT, U_RSQRT, U_EXP, U_LOG, U_ABS, U_TANH, U_RELU, U_SIGMOID, U_ERF, U_RECIPROCAL, U_SQUARE,
  U_SOFTPLUS, U_GELU, U_LOGICAL_NOT, U_ISFINITE, U_CONTIGUOUS, U_CLONE, U_DETACH, U_T, U_SIGN, U_FLOOR, U_LOG1P
};
FN(unary) {
  GUARD_BEGIN
  int op = static_cast<int>(i64(info[0]));
  auto& a = T(info[1]);
  at::Tensor r;
  switch (op) {
    case U_NEG: r = a.neg(); break;
    case U_SQRT: r = a.sqrt(); break;
    case U_RSQRT: r = a.rsqrt(); break;
    case U_EXP: r = a.exp(); break;
    case U_LOG: r = a.log(); break;
    case U_ABS: r = a.abs(); break;
    case U_TANH: r = a.tanh(); break;
    case U_RELU: r = a.relu(); break;
    case U_SIGMOID: r = a.sigmoid(); break;
    case U_ERF: r = a.erf(); break;
    case U_RECIPROCAL: r = a.reciprocal(); break;
    case U_SQUARE: r = a.square(); break;
    case U_SOFTPLUS: r = at::softplus(a); break;
    case U_GELU: r = at::gelu(a); break;
    case U_LOGICAL_NOT: r = a.logical_not(); break;
    case U_ISFINITE: r = a.isfinite(); break;
    case U_CONTIGUOUS: r = a.contiguous(); break;
    case U_CLONE: r = a.clone(); break;
    case U_DETACH: r = a.detach(); break;
    case U_T: r = a.t(); break;
    case U_SIGN: r = a.sign(); break;
    case U_FLOOR: r = a.floor(); break;
    case U_LOG1P: r = a.log1p(); break;
    default: throw std::invalid_argument("unknown unary op");
  }
  return wrap(info.Env(), std::move(r));
  GUARD_END
}

// ---- binary ops: binary(op, a, b, alpha) where b is a tensor or a number ----
enum Binary {
  B_ADD, B_SUB, B_MUL, B_DIV, B_POW, B_EQ, B_NE, B_LT, B_LE, B_GT, B_GE, B_LOGICAL_AND, B_LOGICAL_OR, B_MAXIMUM,
  B_MINIMUM, B_MATMUL, B_BMM, B_REMAINDER
};
FN(binary) {
  GUARD_BEGIN
  int op = static_cast<int>(i64(info[0]));
  auto& a = T(info[1]);
  const bool scalar = info[2].IsNumber();
  at::Tensor r;
  if (scalar) {
    // As PyTorch's Python binding does: a wrapped-number 0-dim tensor keeps `a`'s dtype and takes the fast
    // Tensor-Tensor kernels (the Scalar overloads re-dispatch through composite ops, ~1.5 µs slower here).
    at::Tensor s = c10::scalar_to_tensor(scalarOf(info[2]));
    s.unsafeGetTensorImpl()->set_wrapped_number(true);
    const at::Scalar al = alphaOf(info, 3);
    switch (op) {
      case B_ADD: r = a.add(s, al); break;
      case B_SUB: r = a.sub(s, al); break;
      case B_MUL: r = a.mul(s); break;
      case B_DIV: r = a.div(s); break;
      case B_POW: r = a.pow(at::Scalar(f64(info[2]))); break;
      case B_EQ: r = a.eq(s); break;
      case B_NE: r = a.ne(s); break;
      case B_LT: r = a.lt(s); break;
      case B_LE: r = a.le(s); break;
      case B_GT: r = a.gt(s); break;
      case B_GE: r = a.ge(s); break;
      case B_MAXIMUM: r = a.clamp_min(at::Scalar(f64(info[2]))); break;
      case B_MINIMUM: r = a.clamp_max(at::Scalar(f64(info[2]))); break;
      case B_REMAINDER: r = a.remainder(s); break;
      default: throw std::invalid_argument("this op needs a tensor operand, not a number");
    }
  } else {
    auto& b = T(info[2]);
    switch (op) {
      case B_ADD: r = a.add(b, alphaOf(info, 3)); break;
      case B_SUB: r = a.sub(b, alphaOf(info, 3)); break;
      case B_MUL: r = a.mul(b); break;
      case B_DIV: r = a.div(b); break;
      case B_POW: r = a.pow(b); break;
      case B_EQ: r = a.eq(b); break;
      case B_NE: r = a.ne(b); break;
      case B_LT: r = a.lt(b); break;
      case B_LE: r = a.le(b); break;
      case B_GT: r = a.gt(b); break;
      case B_GE: r = a.ge(b); break;
      case B_LOGICAL_AND: r = a.logical_and(b); break;
      case B_LOGICAL_OR: r = a.logical_or(b); break;
      case B_MAXIMUM: r = at::maximum(a, b); break;
      case B_MINIMUM: r = at::minimum(a, b); break;
      case B_MATMUL: r = a.matmul(b); break;
      case B_BMM: r = a.bmm(b); break;
      case B_REMAINDER: r = a.remainder(b); break;
      default: throw std::invalid_argument("unknown binary op");
    }
  }
  return wrap(info.Env(), std::move(r));
  GUARD_END
}

// ---- shape and indexing ----
enum Shape {
  S_RESHAPE, S_VIEW, S_PERMUTE, S_EXPAND, S_REPEAT, S_TRANSPOSE, S_UNSQUEEZE, S_SQUEEZE, S_SQUEEZE_ALL, S_FLATTEN,
  S_NARROW, S_SELECT
};
FN(shapeOp) {
  GUARD_BEGIN
  int op = static_cast<int>(i64(info[0]));
  auto& a = T(info[1]);
  at::Tensor r;
  switch (op) {
    case S_RESHAPE: r = a.reshape(ints(info[2])); break;
    case S_VIEW: r = a.view(ints(info[2])); break;
    case S_PERMUTE: r = a.permute(ints(info[2])); break;
    case S_EXPAND: r = a.expand(ints(info[2])); break;
    case S_REPEAT: r = a.repeat(ints(info[2])); break;
    case S_TRANSPOSE: r = a.transpose(i64(info[2]), i64(info[3])); break;
    case S_UNSQUEEZE: r = a.unsqueeze(i64(info[2])); break;
    case S_SQUEEZE: r = a.squeeze(i64(info[2])); break;
    case S_SQUEEZE_ALL: r = a.squeeze(); break;
    case S_FLATTEN: r = a.flatten(i64(info[2]), i64(info[3])); break;
    case S_NARROW: r = a.narrow(i64(info[2]), i64(info[3]), i64(info[4])); break;
    case S_SELECT: r = a.select(i64(info[2]), i64(info[3])); break;
    default: throw std::invalid_argument("unknown shape op");
  }
  return wrap(info.Env(), std::move(r));
  GUARD_END
}
FN(indexSelect) {
  GUARD_BEGIN
  return wrap(info.Env(), T(info[0]).index_select(i64(info[1]), T(info[2])));
  GUARD_END
}
FN(gather) {
  GUARD_BEGIN
  return wrap(info.Env(), T(info[0]).gather(i64(info[1]), T(info[2])));
  GUARD_END
}
FN(scatter) {
  GUARD_BEGIN
  auto& a = T(info[0]);
  if (info[3].IsNumber()) return wrap(info.Env(), a.scatter(i64(info[1]), T(info[2]), at::Scalar(f64(info[3]))));
  return wrap(info.Env(), a.scatter(i64(info[1]), T(info[2]), T(info[3])));
  GUARD_END
}
FN(maskedFill) {
  GUARD_BEGIN
  return wrap(info.Env(), T(info[0]).masked_fill(T(info[1]), at::Scalar(f64(info[2]))));
  GUARD_END
}
FN(where) {
  GUARD_BEGIN
  return wrap(info.Env(), at::where(T(info[0]), T(info[1]), T(info[2])));
  GUARD_END
}
std::vector<at::Tensor> tensorList(const Napi::Value& v) {
  if (!v.IsArray()) throw std::invalid_argument("expected an array of tensors");
  auto a = v.As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) out.push_back(T(a.Get(i)));
  return out;
}
FN(cat) {
  GUARD_BEGIN
  return wrap(info.Env(), at::cat(tensorList(info[0]), i64(info[1])));
  GUARD_END
}
FN(stack) {
  GUARD_BEGIN
  return wrap(info.Env(), at::stack(tensorList(info[0]), i64(info[1])));
  GUARD_END
}

// ---- reductions: reduce(op, a, dims|null, keepdim, p) ----
enum Reduce { R_SUM, R_MEAN, R_AMAX, R_AMIN, R_NORM, R_LOGSUMEXP, R_ANY, R_ALL, R_PROD };
FN(reduce) {
  GUARD_BEGIN
  int op = static_cast<int>(i64(info[0]));
  auto& a = T(info[1]);
  const bool all = isNone(info[2]);
  std::vector<int64_t> dims = all ? std::vector<int64_t>{} : ints(info[2]);
  const bool keep = info.Length() > 3 && info[3].IsBoolean() && info[3].As<Napi::Boolean>().Value();
  at::Tensor r;
  switch (op) {
    case R_SUM: r = all ? a.sum() : a.sum(dims, keep); break;
    case R_MEAN: r = all ? a.mean() : a.mean(dims, keep); break;
    case R_AMAX: r = all ? a.max() : a.amax(dims, keep); break;
    case R_AMIN: r = all ? a.min() : a.amin(dims, keep); break;
    case R_NORM: {
      at::Scalar p(isNone(info[4]) ? 2.0 : f64(info[4]));
      r = all ? a.norm(p) : a.norm(p, dims, keep);
      break;
    }
    case R_LOGSUMEXP: r = at::logsumexp(a, all ? std::vector<int64_t>{} : dims, keep); break;
    case R_ANY: r = all ? a.any() : a.any(dims.at(0), keep); break;
    case R_ALL: r = all ? a.all() : a.all(dims.at(0), keep); break;
    case R_PROD: r = all ? a.prod() : a.prod(dims.at(0), keep); break;
    default: throw std::invalid_argument("unknown reduction");
  }
  return wrap(info.Env(), std::move(r));
  GUARD_END
}
FN(maxDim) {
  GUARD_BEGIN
  auto r = T(info[0]).max(i64(info[1]), info[2].As<Napi::Boolean>().Value());
  return pair(info.Env(), std::get<0>(r), std::get<1>(r));
  GUARD_END
}
FN(minDim) {
  GUARD_BEGIN
  auto r = T(info[0]).min(i64(info[1]), info[2].As<Napi::Boolean>().Value());
  return pair(info.Env(), std::get<0>(r), std::get<1>(r));
  GUARD_END
}
FN(argmax) {
  GUARD_BEGIN
  auto& a = T(info[0]);
  if (isNone(info[1])) return wrap(info.Env(), a.argmax());
  return wrap(info.Env(), a.argmax(i64(info[1]), info[2].As<Napi::Boolean>().Value()));
  GUARD_END
}
FN(topk) {
  GUARD_BEGIN
  auto r = T(info[0]).topk(i64(info[1]), i64(info[2]), info[3].As<Napi::Boolean>().Value(),
                           info[4].As<Napi::Boolean>().Value());
  return pair(info.Env(), std::get<0>(r), std::get<1>(r));
  GUARD_END
}
FN(screenedTopk) {
  GUARD_BEGIN
  auto r = drhard::screenedTopk(T(info[0]), T(info[1]), T(info[2]), T(info[3]), T(info[4]), f64(info[5]), i64(info[6]),
                                i64(info[7]));
  return wrapAll(info.Env(), std::move(r));
  GUARD_END
}
FN(sgemmScreenedTopk) {
  GUARD_BEGIN
  auto r = drhard::sgemmScreenedTopk(T(info[0]), T(info[1]), T(info[2]), i64(info[3]), i64(info[4]),
                                     info.Length() > 5 && !isNone(info[5]) ? T(info[5]) : at::Tensor());
  return wrapAll(info.Env(), std::move(r));
  GUARD_END
}
FN(int8ScreenSupported) {
  GUARD_BEGIN
  return Napi::Boolean::New(info.Env(), drhard::int8ScreenSupported());
  GUARD_END
}
FN(int8ScreenIsas) {
  GUARD_BEGIN
  const auto& isas = drhard::int8ScreenIsas();
  Napi::Array out = Napi::Array::New(info.Env(), isas.size());
  for (size_t i = 0; i < isas.size(); i++) out.Set(static_cast<uint32_t>(i), Napi::String::New(info.Env(), isas[i]));
  return out;
  GUARD_END
}
FN(int8Quantize) {
  GUARD_BEGIN
  const int64_t levels = info.Length() > 2 && !info[2].IsUndefined() ? i64(info[2]) : 127;
  auto r = drhard::int8Quantize(T(info[0]), info[1].As<Napi::Boolean>().Value(), levels);
  return wrapAll(info.Env(), std::move(r));
  GUARD_END
}
FN(int8ScreenedTopk) {
  GUARD_BEGIN
  auto r = drhard::int8ScreenedTopk(T(info[0]), T(info[1]), T(info[2]), T(info[3]), T(info[4]), T(info[5]), T(info[6]),
                                    T(info[7]), T(info[8]), T(info[9]), T(info[10]), f64(info[11]), f64(info[12]),
                                    i64(info[13]), info[14].As<Napi::String>().Utf8Value(), i64(info[15]),
                                    info.Length() > 16 && !isNone(info[16]) ? T(info[16]) : at::Tensor(),
                                    info.Length() > 17 && info[17].IsString() ? info[17].As<Napi::String>().Utf8Value() : std::string(),
                                    info.Length() > 18 && info[18].IsBoolean() && info[18].As<Napi::Boolean>().Value());
  return wrapAll(info.Env(), std::move(r));
  GUARD_END
}
FN(bf16GemmIsFloat32Accumulating) {
  GUARD_BEGIN
  return Napi::Boolean::New(info.Env(), drhard::bf16GemmIsFloat32Accumulating(i64(info[0]), i64(info[1]), i64(info[2])));
  GUARD_END
}
FN(sort) {
  GUARD_BEGIN
  // stable sort so ties keep index order: the same input always gives the same ranking.
  auto r = T(info[0]).sort(true, i64(info[1]), info[2].As<Napi::Boolean>().Value());
  return pair(info.Env(), std::get<0>(r), std::get<1>(r));
  GUARD_END
}
FN(cumsum) {
  GUARD_BEGIN
  return wrap(info.Env(), T(info[0]).cumsum(i64(info[1])));
  GUARD_END
}
FN(softmax) {
  GUARD_BEGIN
  return wrap(info.Env(), T(info[0]).softmax(i64(info[1])));
  GUARD_END
}
FN(logSoftmax) {
  GUARD_BEGIN
  return wrap(info.Env(), T(info[0]).log_softmax(i64(info[1])));
  GUARD_END
}
FN(clamp) {
  GUARD_BEGIN
  c10::optional<at::Scalar> lo, hi;
  if (!isNone(info[1])) lo = at::Scalar(f64(info[1]));
  if (!isNone(info[2])) hi = at::Scalar(f64(info[2]));
  return wrap(info.Env(), T(info[0]).clamp(lo, hi));
  GUARD_END
}
FN(to) {
  GUARD_BEGIN
  auto& a = T(info[0]);
  at::Tensor r = a;
  if (!isNone(info[2])) r = r.to(at::Device(info[2].As<Napi::String>().Utf8Value()));
  if (!isNone(info[1])) r = r.to(drhard::dtypeFromCode(static_cast<int>(i64(info[1]))));
  // `to` may return the same tensor; callers always get a fresh handle (sharing storage) to own.
  return wrap(info.Env(), std::move(r));
  GUARD_END
}

// ---- nn functional ----
FN(embedding) {
  GUARD_BEGIN
  int64_t pad = isNone(info[2]) ? -1 : i64(info[2]);
  return wrap(info.Env(), at::embedding(T(info[0]), T(info[1]), pad));
  GUARD_END
}
FN(layerNorm) {
  GUARD_BEGIN
  c10::optional<at::Tensor> w, b;
  if (!isNone(info[2])) w = T(info[2]);
  if (!isNone(info[3])) b = T(info[3]);
  return wrap(info.Env(), at::layer_norm(T(info[0]), ints(info[1]), w, b, f64(info[4])));
  GUARD_END
}
FN(linear) {
  GUARD_BEGIN
  c10::optional<at::Tensor> b;
  if (!isNone(info[2])) b = T(info[2]);
  return wrap(info.Env(), at::linear(T(info[0]), T(info[1]), b));
  GUARD_END
}
FN(dropout) {
  GUARD_BEGIN
  return wrap(info.Env(), at::dropout(T(info[0]), f64(info[1]), info[2].As<Napi::Boolean>().Value()));
  GUARD_END
}
// (like, p[, seed]) → dropout noise shaped like `like`; without a seed, one draw from libtorch's CPU generator.
FN(dropoutNoise) {
  GUARD_BEGIN
  bool lossless = true;
  const uint64_t seed = isNone(info[2]) ? drhard::drawSeed() : info[2].As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless) throw std::invalid_argument("dropout noise: the seed must be an unsigned 64-bit BigInt");
  return wrap(info.Env(), drhard::dropoutNoise(T(info[0]), f64(info[1]), seed));
  GUARD_END
}
// reduction: 0 none, 1 mean, 2 sum (at::Reduction order)
FN(crossEntropy) {
  GUARD_BEGIN
  return wrap(info.Env(), at::cross_entropy_loss(T(info[0]), T(info[1]), {}, i64(info[2]), i64(info[3]), 0.0));
  GUARD_END
}
FN(mseLoss) {
  GUARD_BEGIN
  return wrap(info.Env(), at::mse_loss(T(info[0]), T(info[1]), i64(info[2])));
  GUARD_END
}

// ---- autograd ----
FN(requiresGrad) {
  GUARD_BEGIN
  return Napi::Boolean::New(info.Env(), T(info[0]).requires_grad());
  GUARD_END
}
FN(setRequiresGrad) {
  GUARD_BEGIN
  T(info[0]).requires_grad_(info[1].As<Napi::Boolean>().Value());
  return info.Env().Undefined();
  GUARD_END
}
FN(backward) {
  GUARD_BEGIN
  auto& a = T(info[0]);
  if (isNone(info[1])) a.backward();
  else a.backward(T(info[1]));
  return info.Env().Undefined();
  GUARD_END
}
FN(grad) {
  GUARD_BEGIN
  const at::Tensor& g = T(info[0]).grad();
  if (!g.defined()) return info.Env().Null();
  return wrap(info.Env(), g);
  GUARD_END
}
FN(setGrad) {
  GUARD_BEGIN
  auto& a = T(info[0]);
  if (isNone(info[1])) a.mutable_grad() = at::Tensor();
  else a.mutable_grad() = T(info[1]).detach();
  return info.Env().Undefined();
  GUARD_END
}
FN(setGradEnabled) {
  GUARD_BEGIN
  bool prev = c10::GradMode::is_enabled();
  c10::GradMode::set_enabled(info[0].As<Napi::Boolean>().Value());
  return Napi::Boolean::New(info.Env(), prev);
  GUARD_END
}

// ---- in-place updates: inplace(op, a, x, y, z) ----
enum Inplace { I_ADD, I_SUB, I_MUL, I_DIV, I_ADDCMUL, I_ADDCDIV, I_COPY, I_ZERO, I_FILL, I_CLAMP, I_NORMAL, I_UNIFORM };
FN(inplace) {
  GUARD_BEGIN
  int op = static_cast<int>(i64(info[0]));
  auto& a = T(info[1]);
  auto alpha = [&](size_t i) { return alphaOf(info, i); };
  switch (op) {
    case I_ADD:
      if (info[2].IsNumber()) a.add_(scalarOf(info[2]), alpha(3));
      else a.add_(T(info[2]), alpha(3));
      break;
    case I_SUB:
      if (info[2].IsNumber()) a.sub_(scalarOf(info[2]), alpha(3));
      else a.sub_(T(info[2]), alpha(3));
      break;
    case I_MUL:
      if (info[2].IsNumber()) a.mul_(at::Scalar(f64(info[2])));
      else a.mul_(T(info[2]));
      break;
    case I_DIV:
      if (info[2].IsNumber()) a.div_(at::Scalar(f64(info[2])));
      else a.div_(T(info[2]));
      break;
    case I_ADDCMUL: a.addcmul_(T(info[2]), T(info[3]), at::Scalar(f64(info[4]))); break;
    case I_ADDCDIV: a.addcdiv_(T(info[2]), T(info[3]), at::Scalar(f64(info[4]))); break;
    case I_COPY: a.copy_(T(info[2])); break;
    case I_ZERO: a.zero_(); break;
    case I_FILL: a.fill_(at::Scalar(f64(info[2]))); break;
    case I_CLAMP: {
      c10::optional<at::Scalar> lo, hi;
      if (!isNone(info[2])) lo = at::Scalar(f64(info[2]));
      if (!isNone(info[3])) hi = at::Scalar(f64(info[3]));
      a.clamp_(lo, hi);
      break;
    }
    case I_NORMAL: a.normal_(f64(info[2]), f64(info[3])); break;
    case I_UNIFORM: a.uniform_(f64(info[2]), f64(info[3])); break;
    default: throw std::invalid_argument("unknown in-place op");
  }
  return info.Env().Undefined();
  GUARD_END
}

// ---- runtime ----
FN(setNumThreads) {
  GUARD_BEGIN
  int n = static_cast<int>(i64(info[0]));
  at::set_num_threads(n);
  drhard::faissSetThreads(n);
  drhard::blasSetThreads(n);
  return info.Env().Undefined();
  GUARD_END
}
FN(getNumThreads) { return Napi::Number::New(info.Env(), at::get_num_threads()); }
FN(setMmapThreshold) {
  GUARD_BEGIN
#if defined(__GLIBC__)
  return Napi::Boolean::New(info.Env(), mallopt(M_MMAP_THRESHOLD, static_cast<int>(i64(info[0]))) == 1);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
  GUARD_END
}
FN(manualSeed) {
  GUARD_BEGIN
  torch::manual_seed(static_cast<uint64_t>(i64(info[0])));
  return info.Env().Undefined();
  GUARD_END
}
FN(getRngState) {
  GUARD_BEGIN
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return wrap(info.Env(), gen.get_state());
  GUARD_END
}
FN(setRngState) {
  GUARD_BEGIN
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(T(info[0]));
  return info.Env().Undefined();
  GUARD_END
}
FN(cudaAvailable) { return Napi::Boolean::New(info.Env(), torch::cuda::is_available()); }
FN(cudaDeviceCount) { return Napi::Number::New(info.Env(), static_cast<double>(torch::cuda::device_count())); }
FN(version) {
  auto o = Napi::Object::New(info.Env());
  o.Set("torch", Napi::String::New(info.Env(), TORCH_VERSION));
  o.Set("faiss", Napi::String::New(info.Env(), drhard::faissVersion()));
  return o;
}

// ---- serialization ----
FN(saveTensors) {
  GUARD_BEGIN
  auto names = info[0].As<Napi::Array>();
  std::vector<std::string> ns;
  for (uint32_t i = 0; i < names.Length(); i++) ns.push_back(names.Get(i).As<Napi::String>().Utf8Value());
  auto bytes = drhard::saveTensorMap(ns, tensorList(info[1]));
  return Napi::Buffer<char>::Copy(info.Env(), bytes.data(), bytes.size());
  GUARD_END
}
FN(loadTensors) {
  GUARD_BEGIN
  auto buf = info[0].As<Napi::Buffer<char>>();
  std::vector<char> bytes(buf.Data(), buf.Data() + buf.Length());
  auto items = drhard::loadTensorMap(bytes);
  auto names = Napi::Array::New(info.Env(), items.size());
  auto handles = Napi::Array::New(info.Env(), items.size());
  for (size_t i = 0; i < items.size(); i++) {
    names.Set(static_cast<uint32_t>(i), Napi::String::New(info.Env(), items[i].first));
    handles.Set(static_cast<uint32_t>(i), wrap(info.Env(), items[i].second));
  }
  auto out = Napi::Array::New(info.Env(), 2);
  out.Set(0u, names);
  out.Set(1u, handles);
  return out;
  GUARD_END
}

// ---- faiss ----
struct IndexHolder {
  std::unique_ptr<faiss::Index> index;
};
faiss::Index& IX(const Napi::Value& v) {
  if (!v.IsExternal()) throw std::invalid_argument("expected an index handle");
  auto* h = v.As<Napi::External<IndexHolder>>().Data();
  if (!h->index) throw std::invalid_argument("index was disposed");
  return *h->index;
}
Napi::Value wrapIndex(Napi::Env env, std::unique_ptr<faiss::Index> idx) {
  return Napi::External<IndexHolder>::New(env, new IndexHolder{std::move(idx)},
                                          [](Napi::Env, IndexHolder* h) { delete h; });
}
// A [n, d] float32 matrix from a tensor handle or a Float32Array; keeps a contiguous CPU copy alive in `keep`.
const float* matrix(const Napi::Value& v, int d, int64_t& n, at::Tensor& keep) {
  if (v.IsTypedArray()) {
    auto ta = v.As<Napi::TypedArray>();
    if (ta.TypedArrayType() != napi_float32_array) throw std::invalid_argument("expected a Float32Array");
    auto f = v.As<Napi::Float32Array>();
    if (f.ElementLength() % static_cast<size_t>(d) != 0)
      throw std::invalid_argument("array length is not a multiple of the index dimension");
    n = static_cast<int64_t>(f.ElementLength() / d);
    return f.Data();
  }
  keep = T(v).detach().to(at::kCPU, at::kFloat).contiguous();
  if (keep.dim() != 2 || keep.size(1) != d)
    throw std::invalid_argument("expected a [n, " + std::to_string(d) + "] matrix, got shape " +
                                c10::str(keep.sizes()));
  n = keep.size(0);
  return keep.data_ptr<float>();
}
FN(faissCreate) {
  GUARD_BEGIN
  return wrapIndex(info.Env(), drhard::faissCreate(static_cast<int>(i64(info[0])),
                                                   info[1].As<Napi::String>().Utf8Value(),
                                                   info[2].As<Napi::Boolean>().Value()));
  GUARD_END
}
FN(faissAdd) {
  GUARD_BEGIN
  auto& ix = IX(info[0]);
  int64_t n;
  at::Tensor keep;
  const float* x = matrix(info[1], ix.d, n, keep);
  ix.add(n, x);
  return info.Env().Undefined();
  GUARD_END
}
FN(faissTrain) {
  GUARD_BEGIN
  auto& ix = IX(info[0]);
  int64_t n;
  at::Tensor keep;
  const float* x = matrix(info[1], ix.d, n, keep);
  ix.train(n, x);
  return info.Env().Undefined();
  GUARD_END
}
FN(faissSearch) {
  GUARD_BEGIN
  auto& ix = IX(info[0]);
  int64_t n;
  at::Tensor keep;
  const float* x = matrix(info[1], ix.d, n, keep);
  int64_t k = i64(info[2]);
  if (k <= 0) throw std::invalid_argument("k must be positive");
  auto scores = Napi::Float32Array::New(info.Env(), static_cast<size_t>(n * k));
  auto ids = Napi::BigInt64Array::New(info.Env(), static_cast<size_t>(n * k));
  ix.search(n, x, k, scores.Data(), ids.Data());
  auto out = Napi::Array::New(info.Env(), 2);
  out.Set(0u, scores);
  out.Set(1u, ids);
  return out;
  GUARD_END
}
FN(faissWrite) {
  GUARD_BEGIN
  drhard::faissWrite(IX(info[0]), info[1].As<Napi::String>().Utf8Value());
  return info.Env().Undefined();
  GUARD_END
}
FN(faissRead) {
  GUARD_BEGIN
  return wrapIndex(info.Env(),
                   drhard::faissRead(info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::Boolean>().Value()));
  GUARD_END
}
FN(faissInfo) {
  GUARD_BEGIN
  auto& ix = IX(info[0]);
  auto o = Napi::Object::New(info.Env());
  o.Set("ntotal", Napi::Number::New(info.Env(), static_cast<double>(ix.ntotal)));
  o.Set("dim", Napi::Number::New(info.Env(), ix.d));
  o.Set("isTrained", Napi::Boolean::New(info.Env(), ix.is_trained));
  o.Set("metric", Napi::String::New(info.Env(), ix.metric_type == faiss::METRIC_INNER_PRODUCT ? "ip" : "l2"));
  return o;
  GUARD_END
}
FN(faissSetParam) {
  GUARD_BEGIN
  drhard::faissSetParam(IX(info[0]), info[1].As<Napi::String>().Utf8Value(), f64(info[2]));
  return info.Env().Undefined();
  GUARD_END
}
FN(faissDispose) {
  GUARD_BEGIN
  if (!info[0].IsExternal()) throw std::invalid_argument("expected an index handle");
  info[0].As<Napi::External<IndexHolder>>().Data()->index.reset();
  return info.Env().Undefined();
  GUARD_END
}

// ---- optimizers: one call per step over all parameters (see optim_core.h) ----
// optimStep(kind 0 adamw | 1 lamb, params[], expAvg[], expAvgSq[], a[], b[], [b1, b2, eps, 1-b1, 1-b2], coef|null,
//           fused, scratch|null)
FN(optimStep) {
  GUARD_BEGIN
  const int kind = static_cast<int>(i64(info[0]));
  auto ps = tensorList(info[1]), ms = tensorList(info[2]), vs = tensorList(info[3]);
  auto as = info[4].As<Napi::Array>(), bs = info[5].As<Napi::Array>(), hy = info[6].As<Napi::Array>();
  if (ms.size() != ps.size() || vs.size() != ps.size() || as.Length() != ps.size() || bs.Length() != ps.size())
    throw std::invalid_argument("optimStep: parameter, moment and hyperparameter lists differ in length");
  std::vector<drhard::OptimParam> list(ps.size());
  for (size_t i = 0; i < ps.size(); i++) {
    list[i] = {ps[i], ms[i], vs[i], f64(as.Get(static_cast<uint32_t>(i))), f64(bs.Get(static_cast<uint32_t>(i)))};
  }
  drhard::OptimHyper h{f64(hy.Get(0u)), f64(hy.Get(1u)), f64(hy.Get(2u)), f64(hy.Get(3u)), f64(hy.Get(4u))};
  at::Tensor coef = isNone(info[7]) ? at::Tensor() : T(info[7]);
  const bool fused = info[8].As<Napi::Boolean>().Value();
  at::Tensor scratch = info.Length() > 9 && !isNone(info[9]) ? T(info[9]) : at::Tensor();
  if (kind == 0) drhard::adamwStep(list, h, coef, fused);
  else if (kind == 1) drhard::lambStep(list, h, coef, fused, scratch);
  else throw std::invalid_argument("optimStep: unknown optimizer kind");
  return info.Env().Undefined();
  GUARD_END
}
// clipCoefficient(grads[], maxNorm) -> [total, coef]
FN(clipCoefficient) {
  GUARD_BEGIN
  auto r = drhard::clipCoefficient(tensorList(info[0]), f64(info[1]));
  return pair(info.Env(), std::move(r.first), std::move(r.second));
  GUARD_END
}

// ---- c10d process groups (native/src/dist_core.h) ----
// Collectives run synchronously on the JS thread, bounded by their timeout: the training step around them is
// synchronous (tidy scopes, autograd, tensor handles owned by JS), a worker thread would only move the wait, and
// Gloo's op timeout plus Work::wait's deadline guarantee the call returns (or throws) in bounded time.
struct DistHolder {
  std::shared_ptr<drhard::DistGroup> g;
};
drhard::DistGroup& DG(const Napi::Value& v) {
  if (!v.IsExternal()) throw std::invalid_argument("expected a process group handle");
  auto* h = v.As<Napi::External<DistHolder>>().Data();
  if (!h->g) throw std::invalid_argument("process group was destroyed");
  return *h->g;
}
FN(distInit) {
  GUARD_BEGIN
  auto g = drhard::distInit(info[0].As<Napi::String>().Utf8Value(), static_cast<int>(i64(info[1])),
                            static_cast<int>(i64(info[2])), i64(info[3]), info[4].As<Napi::String>().Utf8Value(),
                            info[5].As<Napi::Boolean>().Value(), i64(info[6]), info[7].As<Napi::String>().Utf8Value());
  return Napi::External<DistHolder>::New(info.Env(), new DistHolder{std::move(g)});
  GUARD_END
}
FN(distAllReduce) {
  GUARD_BEGIN
  auto arr = info[1].As<Napi::Array>();
  std::vector<at::Tensor> ts;
  for (uint32_t i = 0; i < arr.Length(); i++) ts.push_back(T(arr.Get(i)));
  drhard::distAllReduce(DG(info[0]), ts, static_cast<int>(i64(info[2])), i64(info[3]));
  return info.Env().Undefined();
  GUARD_END
}
FN(distAllGather) {
  GUARD_BEGIN
  auto parts = drhard::distAllGather(DG(info[0]), T(info[1]), i64(info[2]));
  auto out = Napi::Array::New(info.Env(), parts.size());
  for (size_t i = 0; i < parts.size(); i++) out.Set(static_cast<uint32_t>(i), wrap(info.Env(), std::move(parts[i])));
  return out;
  GUARD_END
}
FN(distBroadcast) {
  GUARD_BEGIN
  drhard::distBroadcast(DG(info[0]), T(info[1]), static_cast<int>(i64(info[2])), i64(info[3]));
  return info.Env().Undefined();
  GUARD_END
}
FN(distBarrier) {
  GUARD_BEGIN
  drhard::distBarrier(DG(info[0]), i64(info[1]));
  return info.Env().Undefined();
  GUARD_END
}
FN(distStoreSet) {
  GUARD_BEGIN
  drhard::distStoreSet(DG(info[0]), info[1].As<Napi::String>().Utf8Value(), info[2].As<Napi::String>().Utf8Value());
  return info.Env().Undefined();
  GUARD_END
}
FN(distStoreGet) {
  GUARD_BEGIN
  return Napi::String::New(info.Env(),
                           drhard::distStoreGet(DG(info[0]), info[1].As<Napi::String>().Utf8Value(), i64(info[2])));
  GUARD_END
}
FN(distStaleRanks) {
  GUARD_BEGIN
  auto r = drhard::distStaleRanks(DG(info[0]), i64(info[1]));
  auto out = Napi::Array::New(info.Env(), r.size());
  for (size_t i = 0; i < r.size(); i++) out.Set(static_cast<uint32_t>(i), Napi::Number::New(info.Env(), r[i]));
  return out;
  GUARD_END
}
FN(distShutdown) {
  GUARD_BEGIN
  if (!info[0].IsExternal()) throw std::invalid_argument("expected a process group handle");
  auto* h = info[0].As<Napi::External<DistHolder>>().Data();
  drhard::distShutdown(h->g, info[1].As<Napi::Boolean>().Value());
  delete h;
  return info.Env().Undefined();
  GUARD_END
}
FN(distNcclAvailable) { return Napi::Boolean::New(info.Env(), drhard::distNcclAvailable()); }
// distServeStore(port, timeoutMs) -> [handle, port]: a TCPStore server (tests of torchrun's agent store).
struct StoreServerHolder {
  std::shared_ptr<drhard::DistStoreServer> s;
};
FN(distServeStore) {
  GUARD_BEGIN
  auto s = drhard::distServeStore(static_cast<int>(i64(info[0])), i64(info[1]));
  const int port = drhard::distServedPort(*s);
  auto out = Napi::Array::New(info.Env(), 2);
  out.Set(0u, Napi::External<StoreServerHolder>::New(info.Env(), new StoreServerHolder{std::move(s)}));
  out.Set(1u, Napi::Number::New(info.Env(), port));
  return out;
  GUARD_END
}
FN(distCloseStore) {
  GUARD_BEGIN
  if (!info[0].IsExternal()) throw std::invalid_argument("expected a store server handle");
  auto* h = info[0].As<Napi::External<StoreServerHolder>>().Data();
  delete h;  // the JS owner drops the handle after this call (src/dist/agent.ts)
  return info.Env().Undefined();
  GUARD_END
}

#define EXPORT(name) exports.Set(#name, Napi::Function::New(env, name, #name))
Napi::Object Init(Napi::Env env, Napi::Object exports) {
  EXPORT(dispose); EXPORT(liveTensors); EXPORT(shape); EXPORT(dtype); EXPORT(device);
  EXPORT(fromBuffer); EXPORT(toBuffer); EXPORT(item); EXPORT(fromFile); EXPORT(readFileInto); EXPORT(create);
  EXPORT(unary); EXPORT(binary); EXPORT(shapeOp); EXPORT(indexSelect); EXPORT(gather); EXPORT(scatter);
  EXPORT(maskedFill); EXPORT(where); EXPORT(cat); EXPORT(stack); EXPORT(reduce); EXPORT(maxDim); EXPORT(minDim);
  EXPORT(argmax); EXPORT(topk); EXPORT(screenedTopk); EXPORT(sgemmScreenedTopk); EXPORT(int8ScreenSupported); EXPORT(int8ScreenIsas); EXPORT(int8Quantize); EXPORT(int8ScreenedTopk); EXPORT(bf16GemmIsFloat32Accumulating); EXPORT(sort); EXPORT(cumsum); EXPORT(softmax); EXPORT(logSoftmax); EXPORT(clamp);
  EXPORT(to); EXPORT(embedding); EXPORT(layerNorm); EXPORT(linear); EXPORT(dropout); EXPORT(dropoutNoise); EXPORT(crossEntropy);
  EXPORT(mseLoss); EXPORT(requiresGrad); EXPORT(setRequiresGrad); EXPORT(backward); EXPORT(grad); EXPORT(setGrad);
  EXPORT(setGradEnabled); EXPORT(inplace); EXPORT(setNumThreads); EXPORT(getNumThreads); EXPORT(setMmapThreshold); EXPORT(manualSeed);
  EXPORT(getRngState); EXPORT(setRngState); EXPORT(cudaAvailable); EXPORT(cudaDeviceCount); EXPORT(version);
  EXPORT(saveTensors); EXPORT(loadTensors);
  EXPORT(faissCreate); EXPORT(faissAdd); EXPORT(faissTrain); EXPORT(faissSearch); EXPORT(faissWrite);
  EXPORT(faissRead); EXPORT(faissInfo); EXPORT(faissSetParam); EXPORT(faissDispose);
  EXPORT(optimStep); EXPORT(clipCoefficient);

  EXPORT(distInit); EXPORT(distAllReduce); EXPORT(distAllGather); EXPORT(distBroadcast); EXPORT(distBarrier);
  EXPORT(distStoreSet); EXPORT(distStoreGet); EXPORT(distStaleRanks); EXPORT(distShutdown); EXPORT(distNcclAvailable);
  EXPORT(distServeStore); EXPORT(distCloseStore);
  return exports;
}

}  // namespace

NODE_API_MODULE(drhard_native, Init)
