// Implementation of faiss_core.h.
#include "faiss_core.h"

#include <faiss/AutoTune.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <omp.h>

namespace drhard {

std::unique_ptr<faiss::Index> faissCreate(int dim, const std::string& factory, bool innerProduct) {
  return std::unique_ptr<faiss::Index>(
      faiss::index_factory(dim, factory.c_str(), innerProduct ? faiss::METRIC_INNER_PRODUCT : faiss::METRIC_L2));
}

std::unique_ptr<faiss::Index> faissRead(const std::string& path, bool mmap) {
  int flags = mmap ? (faiss::IO_FLAG_MMAP | faiss::IO_FLAG_READ_ONLY) : 0;
  return std::unique_ptr<faiss::Index>(faiss::read_index(path.c_str(), flags));
}

void faissWrite(const faiss::Index& index, const std::string& path) { faiss::write_index(&index, path.c_str()); }

void faissSetParam(faiss::Index& index, const std::string& name, double value) {
  faiss::ParameterSpace().set_index_parameter(&index, name, value);
}

void faissSetThreads(int n) { omp_set_num_threads(n); }
int faissGetThreads() { return omp_get_max_threads(); }

std::string faissVersion() {
  return std::to_string(FAISS_VERSION_MAJOR) + "." + std::to_string(FAISS_VERSION_MINOR) + "." +
         std::to_string(FAISS_VERSION_PATCH);
}

}  // namespace drhard
