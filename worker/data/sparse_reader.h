// SparseReader: streams the samples of one data shard (a byte range of a
// libsvm or Criteo-style TSV file) into SparseBatches. Built on RangeLineReader,
// so it owns the lines that start inside its range, holds one buffer and one
// batch in memory, and resumes exactly from next_offset().
//
// A malformed line is an error naming the file, the 1-based line number and
// what is wrong; with skip_bad_lines it is counted (bad_lines()), logged (the
// first kLoggedBadLines of them) and skipped instead. Blank lines are skipped
// silently. Not thread-safe: one thread owns a reader.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/job_spec.h"
#include "common/status.h"
#include "worker/data/line_formats.h"
#include "worker/data/range_line_reader.h"
#include "worker/data/sparse_batch.h"

namespace pst {

// DataFormat, ParseDataFormat and DataFormatName: common/job_spec.h.

struct SparseReaderOptions {
  // Format of every line. Default: libsvm.
  DataFormat format = DataFormat::kLibsvm;
  // Shape and hashing of kCriteoTsv lines.
  CriteoFormat criteo;
  // Count, log and skip malformed lines instead of failing. Default: false.
  bool skip_bad_lines = false;
  // Line length limit and read size.
  RangeLineReaderOptions lines;
};

class SparseReader {
 public:
  static constexpr uint64_t kLoggedBadLines = 10;

  // Opens the range (errors as RangeLineReader::Open).
  static StatusOr<std::unique_ptr<SparseReader>> Open(const FileRange& range,
                                                      const SparseReaderOptions& options);

  // Clears *batch, sets its num_fields / num_dense for the format, and appends
  // up to max_samples samples. Returns how many (0: the range is done).
  // kInvalidArgument "data file 'F', line N: <what is wrong>" for a malformed
  // line unless skip_bad_lines, and the errors of RangeLineReader::Next; after
  // an error the reader must not be used again. REQUIRES: max_samples > 0.
  StatusOr<size_t> ReadBatch(size_t max_samples, SparseBatch* batch);

  // Where to resume: a reader opened on [next_offset(), end) returns exactly
  // the samples this one has not returned yet.
  uint64_t next_offset() const { return lines_->next_offset(); }
  // Samples returned so far and malformed lines skipped so far.
  uint64_t samples_read() const { return samples_read_; }
  uint64_t bad_lines() const { return bad_lines_; }
  // The error of the most recent skipped line ("" if none).
  const std::string& last_bad_line() const { return last_bad_line_; }
  // Sparse fields and dense features per sample for these options.
  static uint32_t NumFields(const SparseReaderOptions& options);
  static uint32_t NumDense(const SparseReaderOptions& options);

 private:
  SparseReader(std::unique_ptr<RangeLineReader> lines, const SparseReaderOptions& options)
      : lines_(std::move(lines)), options_(options) {}
  // kInvalidArgument "data file 'F', line N: <what>" for the line at `offset`.
  Status LineError(uint64_t offset, const Status& what);

  std::unique_ptr<RangeLineReader> lines_;
  SparseReaderOptions options_;
  uint64_t samples_read_ = 0;
  uint64_t bad_lines_ = 0;
  std::string last_bad_line_;
};

}  // namespace pst
