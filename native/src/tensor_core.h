// libtorch helpers that are more than one call: dtype codes, byte copies, file reads, tensor-map (de)serialization.
// No N-API here: addon.cpp converts arguments and calls these.
#pragma once
#include <torch/torch.h>
#include <string>
#include <utility>
#include <vector>

namespace drhard {

// Dtype codes shared with src/native/addon.ts (order matters).
at::ScalarType dtypeFromCode(int code);
int dtypeCode(at::ScalarType t);

// Copies `nbytes` from `data` into a new CPU tensor of `shape`/`dtype`; checks the byte count.
at::Tensor fromBytes(const void* data, size_t nbytes, const std::vector<int64_t>& shape, at::ScalarType dtype);
// Copies a tensor's elements (any device, any strides) into `dst`, which must hold numel * element size bytes.
void copyToBytes(const at::Tensor& t, void* dst, size_t dstBytes);
// Reads shape-many elements of dtype from `path` at `byteOffset` straight into tensor storage (pread, no JS copy).
at::Tensor fromFile(const std::string& path, int64_t byteOffset, const std::vector<int64_t>& shape, at::ScalarType dtype);
// The same into an existing contiguous CPU tensor (its numel × element size bytes): a reused buffer, no allocation.
void readFileInto(const std::string& path, int64_t byteOffset, at::Tensor& t);
// pread until `n` bytes are in `dst` (retrying short reads and EINTR): returns n, the bytes read before the end of
// the file, or -errno. Shared by readFileInto and the int8 engine's row reads (search_core.cpp).
int64_t preadFull(int fd, void* dst, size_t n, int64_t offset);

// Python torch.save-compatible zip bytes for {name: tensor}; and the reverse for torch.save'd state dicts.
std::vector<char> saveTensorMap(const std::vector<std::string>& names, const std::vector<at::Tensor>& tensors);
std::vector<std::pair<std::string, at::Tensor>> loadTensorMap(const std::vector<char>& bytes);

// The message of a libtorch/faiss/std exception without libtorch's C++ backtrace.
std::string errorMessage(const std::exception& e);

// Sizes OpenBLAS's own thread pool (its pthread build, Debian's, ignores at::set_num_threads and starts one thread
// per core in every process). Returns false where the BLAS is not OpenBLAS.
bool blasSetThreads(int n);

}  // namespace drhard
