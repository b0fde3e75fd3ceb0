// Implementation of the libtorch helpers declared in tensor_core.h.
#include "tensor_core.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace drhard {

static const at::ScalarType kCodes[] = {
    at::kFloat, at::kDouble, at::kHalf, at::kBFloat16, at::kInt, at::kLong, at::kByte, at::kBool, at::kChar};

at::ScalarType dtypeFromCode(int code) {
  if (code < 0 || code >= static_cast<int>(sizeof(kCodes) / sizeof(kCodes[0])))
    throw std::invalid_argument("unknown dtype code " + std::to_string(code));
  return kCodes[code];
}

int dtypeCode(at::ScalarType t) {
  for (int i = 0; i < static_cast<int>(sizeof(kCodes) / sizeof(kCodes[0])); i++)
    if (kCodes[i] == t) return i;
  throw std::invalid_argument(std::string("unsupported dtype ") + c10::toString(t));
}

static int64_t numelOf(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (auto s : shape) {
    if (s < 0) throw std::invalid_argument("negative dimension in shape");
    n *= s;
  }
  return n;
}

at::Tensor fromBytes(const void* data, size_t nbytes, const std::vector<int64_t>& shape, at::ScalarType dtype) {
  const int64_t n = numelOf(shape);
  const size_t want = static_cast<size_t>(n) * c10::elementSize(dtype);
  if (want != nbytes)
    throw std::invalid_argument("buffer has " + std::to_string(nbytes) + " bytes but shape needs " +
                                std::to_string(want));
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dtype));
  if (nbytes) std::memcpy(t.data_ptr(), data, nbytes);
  return t;
}

void copyToBytes(const at::Tensor& t, void* dst, size_t dstBytes) {
  at::Tensor c = t.detach();
  if (!c.device().is_cpu()) c = c.to(at::kCPU);
  c = c.contiguous();
  const size_t nbytes = static_cast<size_t>(c.numel()) * c.element_size();
  if (nbytes != dstBytes) throw std::invalid_argument("destination size mismatch");
  if (nbytes) std::memcpy(dst, c.data_ptr(), nbytes);
}

int64_t preadFull(int fd, void* dst, size_t n, int64_t offset) {
  char* d = static_cast<char*>(dst);
  size_t done = 0;
  while (done < n) {
    const ssize_t r = ::pread(fd, d + done, n - done, offset + static_cast<int64_t>(done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  return static_cast<int64_t>(done);
}

void readFileInto(const std::string& path, int64_t byteOffset, at::Tensor& t) {
  if (!t.device().is_cpu() || !t.is_contiguous())
    throw std::invalid_argument("readFileInto: the target must be a contiguous CPU tensor");
  const size_t nbytes = static_cast<size_t>(t.numel()) * t.element_size();
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw std::runtime_error(path + ": " + std::strerror(errno));
  const int64_t got = preadFull(fd, t.data_ptr(), nbytes, byteOffset);
  ::close(fd);
  if (got < 0) throw std::runtime_error(path + ": read failed: " + std::strerror(static_cast<int>(-got)));
  if (static_cast<size_t>(got) < nbytes)
    throw std::runtime_error(path + ": file too short: wanted " + std::to_string(nbytes) + " bytes at offset " +
                             std::to_string(byteOffset));
}

at::Tensor fromFile(const std::string& path, int64_t byteOffset, const std::vector<int64_t>& shape,
                    at::ScalarType dtype) {
  numelOf(shape);  // validates the shape
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dtype));
  readFileInto(path, byteOffset, t);
  return t;
}

std::vector<char> saveTensorMap(const std::vector<std::string>& names, const std::vector<at::Tensor>& tensors) {
  c10::Dict<std::string, at::Tensor> dict;
  for (size_t i = 0; i < names.size(); i++) dict.insert(names[i], tensors[i].detach().to(at::kCPU));
  return torch::pickle_save(c10::IValue(dict));
}

std::vector<std::pair<std::string, at::Tensor>> loadTensorMap(const std::vector<char>& bytes) {
  c10::IValue v = torch::pickle_load(bytes);
  if (!v.isGenericDict()) throw std::runtime_error("file does not hold a dict of tensors (a state dict)");
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& kv : v.toGenericDict()) {
    if (!kv.key().isString()) throw std::runtime_error("state dict has a non-string key");
    if (!kv.value().isTensor())
      throw std::runtime_error("state dict entry '" + kv.key().toStringRef() + "' is not a tensor");
    out.emplace_back(kv.key().toStringRef(), kv.value().toTensor());
  }
  return out;
}

std::string errorMessage(const std::exception& e) {
  if (auto* ce = dynamic_cast<const c10::Error*>(&e)) return ce->what_without_backtrace();
  return e.what();
}

bool blasSetThreads(int n) {
  static const auto set = []() -> void (*)(int) {
    for (const char* lib : {"libopenblas.so.0", "libblas.so.3"}) {
      void* h = dlopen(lib, RTLD_LAZY | RTLD_NOLOAD);
      if (h == nullptr) continue;
      if (auto* f = reinterpret_cast<void (*)(int)>(dlsym(h, "openblas_set_num_threads"))) return f;
    }
    return nullptr;
  }();
  if (set == nullptr) return false;
  set(n);
  return true;
}

}  // namespace drhard
