// pst::SparseFileIndex: the records of one sparse data file (libsvm or
// Criteo-style TSV), counted by one streaming pass, and the byte offset at
// which every `stride`-th record starts. The scheduler leases record ranges of
// an epoch (scheduler/shard_pool.h: shards of stride records, and pieces of
// them after a failure); the worker opens each at the byte range of its shard
// and skips to its first record, so a re-leased remainder resumes exactly at
// the record where the dead worker's last completed step ended. Memory: one
// offset per stride records, never the file.
// Immutable after Build: thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "worker/data/sparse_reader.h"

namespace pst {

class SparseFileIndex {
 public:
  // Reads `path` once with `reader` options (the records a SparseReader
  // returns: blank lines and, with skip_bad_lines, malformed ones do not
  // count). REQUIRES: stride >= 1. Errors: SparseReader's (a malformed line
  // names the file and line); kInvalidArgument for a file without records.
  static StatusOr<SparseFileIndex> Build(const std::string& path,
                                         const SparseReaderOptions& reader, uint64_t stride);

  uint64_t records() const { return records_; }
  const std::string& path() const { return path_; }

  // A reader whose next sample is record `begin` (it reads on to the end of
  // the file). kOutOfRange if begin >= records(); SparseReader's errors.
  StatusOr<std::unique_ptr<SparseReader>> OpenAt(uint64_t begin) const;

 private:
  SparseFileIndex(std::string path, SparseReaderOptions reader, uint64_t stride)
      : path_(std::move(path)), reader_(reader), stride_(stride) {}

  std::string path_;
  SparseReaderOptions reader_;
  uint64_t stride_;
  uint64_t records_ = 0;
  std::vector<uint64_t> offsets_;  // offsets_[k]: first byte of record k * stride_
};

}  // namespace pst
