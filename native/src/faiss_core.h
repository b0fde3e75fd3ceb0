// faiss helpers: index creation by factory string, add/search/train/io on raw float buffers. No N-API here.
#pragma once
#include <faiss/Index.h>

#include <memory>
#include <string>

namespace drhard {

std::unique_ptr<faiss::Index> faissCreate(int dim, const std::string& factory, bool innerProduct);
std::unique_ptr<faiss::Index> faissRead(const std::string& path, bool mmap);
void faissWrite(const faiss::Index& index, const std::string& path);
void faissSetParam(faiss::Index& index, const std::string& name, double value);
void faissSetThreads(int n);
int faissGetThreads();
// The faiss version compiled against, "major.minor.patch" (part of the engine calibration's cache key).
std::string faissVersion();

}  // namespace drhard
