// Data shards that are byte ranges of files: what the scheduler leases when a
// job's data are large text files (libsvm, Criteo-style TSV) that workers
// stream instead of loading whole. A range owns the lines that start inside it
// (see worker/data/range_line_reader.h), so cutting files at arbitrary bytes
// still gives every line to exactly one shard.
// Plain structs and functions: thread-safe.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "common/status.h"

namespace pst {

// A byte range of a file: a data shard's bytes.
struct FileRange {
  static constexpr uint64_t kToEnd = std::numeric_limits<uint64_t>::max();
  // Path of the text file. Required.
  std::string path;
  // First byte of the range. Default: 0.
  uint64_t begin = 0;
  // One past the last byte; kToEnd (or anything past the file's size) reads to
  // the end of the file. Default: kToEnd.
  uint64_t end = kToEnd;

  bool operator==(const FileRange&) const = default;
};

// Cuts each file into ceil(size / target_bytes) ranges of equal size (within a
// byte), in the order of `paths`; an empty file gives no range. Reads only the
// files' sizes. kInvalidArgument if target_bytes is 0 or a path is not a
// regular file, kNotFound naming a missing file.
StatusOr<std::vector<FileRange>> PlanFileShards(const std::vector<std::string>& paths,
                                                uint64_t target_bytes);

}  // namespace pst
