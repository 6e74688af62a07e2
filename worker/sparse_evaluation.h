// Evaluating a sparse model on a test file: the one loop the worker
// (worker/sparse_work.h, rows pulled from the PS) and `pstrain eval`
// (cli/eval_command.h, rows from a checkpoint) both run, so their numbers are
// the same for the same rows. The file is streamed in batches; each batch's
// ids are deduplicated, the caller fills the rows of the unique ids, and the
// model's predictions are collected: AUC, log-loss and accuracy at 0.5.
// Not thread-safe (uses the model's scratch buffers).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/status.h"
#include "worker/data/sparse_reader.h"
#include "worker/models/sparse_model.h"

namespace pst {

struct SparseEvaluation {
  uint64_t samples = 0;
  uint64_t correct = 0;   // samples with (p >= 0.5) == label
  double auc = 0.5;       // 0.5 ("no ranking skill") when the file holds one class only
  double log_loss = 0;    // mean
  uint64_t bad_lines = 0;  // skipped (reader option skip_bad_lines), the last one's error
  std::string last_bad_line;
};

// Fills params->sparse for the batch's unique ids (params->dense stays as the
// caller set it).
using PullSparseRows = std::function<Status(const UniqueIds& ids, ModelParams* params)>;

// Reads `reader` to its end in batches of `batch_size` samples; each batch's
// unique ids go to *ids (the caller's buffer) before pull(*ids, params). Errors: the
// reader's, pull's and the model's; kInvalidArgument naming `test_path` if the
// file holds no records.
StatusOr<SparseEvaluation> EvaluateSparseModel(SparseModel& model, SparseReader& reader,
                                               const std::string& test_path, size_t batch_size,
                                               UniqueIds* ids, const PullSparseRows& pull,
                                               ModelParams* params);

}  // namespace pst
