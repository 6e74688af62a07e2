#include "worker/data/sparse_file_index.h"

#include <algorithm>

#include "common/file_shards.h"

namespace pst {

StatusOr<SparseFileIndex> SparseFileIndex::Build(const std::string& path,
                                                 const SparseReaderOptions& reader,
                                                 uint64_t stride) {
  if (stride == 0) return Status::InvalidArgument("sparse file index: stride 0");
  SparseFileIndex index(path, reader, stride);
  PST_ASSIGN_OR_RETURN(std::unique_ptr<SparseReader> r, SparseReader::Open({path}, reader));
  SparseBatch batch;
  for (;;) {
    const uint64_t offset = r->next_offset();
    PST_ASSIGN_OR_RETURN(const size_t n, r->ReadBatch(stride, &batch));
    if (n == 0) break;
    index.offsets_.push_back(offset);
    index.records_ += n;
    if (n < stride) break;
  }
  if (index.records_ == 0)
    return Status::InvalidArgument("data file '" + path + "' holds no records");
  return index;
}

StatusOr<std::unique_ptr<SparseReader>> SparseFileIndex::OpenAt(uint64_t begin) const {
  if (begin >= records_)
    return Status::OutOfRange("record " + std::to_string(begin) + " is past the " +
                              std::to_string(records_) + " records of '" + path_ + "'");
  const uint64_t k = begin / stride_;
  PST_ASSIGN_OR_RETURN(std::unique_ptr<SparseReader> r,
                       SparseReader::Open({path_, offsets_[k], FileRange::kToEnd}, reader_));
  SparseBatch skipped;
  for (uint64_t skip = begin - k * stride_; skip > 0;) {
    PST_ASSIGN_OR_RETURN(const size_t n, r->ReadBatch(std::min<uint64_t>(skip, 4096), &skipped));
    if (n == 0) return Status::DataLoss("data file '" + path_ + "' changed while training");
    skip -= n;
  }
  return r;
}

}  // namespace pst
