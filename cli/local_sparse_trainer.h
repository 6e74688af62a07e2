// pst::TrainSparseLocal: a sparse job (lr, fm, embedding_mlp) trained on one
// thread with pstrain's own parts and no network in between: `pstrain local`
// of a sparse job, and the throughput baseline of the bench's sparse-train
// suite. The worker's reader (worker/data/sparse_reader.h), id dedup and model
// (worker/models/), the PS's SparseTable per sparse table (ps/sparse_table.h,
// its options from the job as the PS builds them: ps/sparse_table_spec.h, so
// every per-table rule works) and the PS's dense optimizer per dense table
// (ps/optimizer.h); each step pulls the batch's unique ids, runs forward +
// backward, and pushes the summed gradients scaled by 1 / batch size, as a
// 1-worker BSP cluster does (the job's worker count is not simulated; tables
// are not evicted). Evaluations use the workers' loop
// (worker/sparse_evaluation.h). OpenBLAS single-threaded, as the workers run
// it. (bench/ctr_reference.h is the quality baseline: deliberately plain
// code, not tuned for speed.) Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "common/job_spec.h"
#include "common/status.h"

namespace pst {

struct SparseLocalEpoch {
  uint32_t epoch = 0;         // 0-based
  double train_loss = 0;      // mean log-loss over the epoch's samples, before each step's update
  uint64_t samples = 0;
  double seconds = 0;         // the epoch's training pass
  // Test metrics (only when evaluated).
  bool evaluated = false;
  double test_auc = 0;
  double test_log_loss = 0;
  double test_accuracy = 0;
};

struct SparseLocalResult {
  uint64_t samples = 0;       // training samples over every epoch
  double train_seconds = 0;   // the training passes only (evaluations excluded)
  double test_auc = 0;        // after the last epoch
  std::vector<SparseLocalEpoch> epochs;
};

struct SparseLocalOptions {
  // Evaluate on the test file after every epoch (else after the last only).
  // Default: true.
  bool evaluate_every_epoch = true;
  // Called after each epoch (after its evaluation, if any). Optional.
  std::function<void(const SparseLocalEpoch&)> on_epoch;
};

// kInvalidArgument for a job that is not sparse or not valid; the readers'
// and tables' errors (a malformed line names its file and line).
StatusOr<SparseLocalResult> TrainSparseLocal(const JobSpec& job,
                                             const SparseLocalOptions& options = {});

}  // namespace pst
