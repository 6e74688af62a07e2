#include "worker/data/sparse_reader.h"

#include <fmt/format.h>

#include "common/log.h"

namespace pst {

uint32_t SparseReader::NumFields(const SparseReaderOptions& options) {
  return options.format == DataFormat::kLibsvm ? 1 : options.criteo.num_categorical;
}

uint32_t SparseReader::NumDense(const SparseReaderOptions& options) {
  return options.format == DataFormat::kLibsvm ? 0 : options.criteo.num_dense;
}

StatusOr<std::unique_ptr<SparseReader>> SparseReader::Open(const FileRange& range,
                                                          const SparseReaderOptions& options) {
  if (options.format == DataFormat::kCriteoTsv && options.criteo.num_categorical == 0) {
    return Status::InvalidArgument("criteo format: num_categorical must be >= 1");
  }
  PST_ASSIGN_OR_RETURN(std::unique_ptr<RangeLineReader> lines,
                       RangeLineReader::Open(range, options.lines));
  return std::unique_ptr<SparseReader>(new SparseReader(std::move(lines), options));
}

Status SparseReader::LineError(uint64_t offset, const Status& what) {
  StatusOr<uint64_t> number = lines_->LineNumberAt(offset);
  if (!number.ok()) return number.status();
  return Status::InvalidArgument(
      fmt::format("data file '{}', line {}: {}", lines_->path(), *number, what.message()));
}

StatusOr<size_t> SparseReader::ReadBatch(size_t max_samples, SparseBatch* batch) {
  batch->num_fields = NumFields(options_);
  batch->num_dense = NumDense(options_);
  batch->Clear();
  std::string_view line;
  uint64_t offset = 0;
  while (batch->size() < max_samples) {
    PST_ASSIGN_OR_RETURN(bool more, lines_->Next(&line, &offset));
    if (!more) break;
    if (IsBlankLine(line)) continue;
    const Status parsed = options_.format == DataFormat::kLibsvm
                              ? ParseLibsvmLine(line, batch)
                              : ParseCriteoLine(line, options_.criteo, batch);
    if (parsed.ok()) continue;
    Status error = LineError(offset, parsed);
    if (!options_.skip_bad_lines) return error;
    ++bad_lines_;
    last_bad_line_ = error.message();
    if (bad_lines_ <= kLoggedBadLines) {
      PST_LOG_WARN("skipping bad line: {}{}", last_bad_line_,
                   bad_lines_ == kLoggedBadLines ? " (further bad lines are only counted)" : "");
    }
  }
  samples_read_ += batch->size();
  return batch->size();
}

}  // namespace pst
