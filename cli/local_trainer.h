// pst::TrainLocal: the whole BSP training schedule of a job in one process, with
// no network: `num_workers` virtual workers lease shards from the same
// ShardPool, compute with the same Mlp, and their gradient sums are combined and
// applied by the same Shard (covering every key) as on a cluster. It is the
// reference a cluster run must reproduce, and the in-process baseline of the
// benchmarks. Blocks; not thread-safe.
#pragma once

#include <functional>
#include <vector>

#include "common/job_spec.h"
#include "common/status.h"
#include "worker/dataset.h"

namespace pst {

struct LocalEpoch {
  uint32_t epoch = 0;        // 0-based
  double train_loss = 0;     // mean over the epoch's samples
  uint64_t samples = 0;
  double test_accuracy = 0;  // on the first job.train.test_limit test samples (all if 0)
  double seconds = 0;        // wall time of the epoch (evaluation excluded)
};

struct LocalResult {
  std::vector<float> params;  // the final model, laid out by ModelLayout
  std::vector<LocalEpoch> epochs;
  uint64_t samples = 0;       // training samples processed
  double train_seconds = 0;   // wall time spent training (evaluations excluded)
};

struct LocalOptions {
  // Virtual workers whose batches form each BSP step. Default: 1.
  uint32_t num_workers = 1;
  // Evaluate on the test set after each epoch. Default: true.
  bool evaluate = true;
  // OpenBLAS threads; keep it equal to the workers' to reproduce a cluster run
  // bit for bit. Default: 1.
  int blas_threads = 1;
  // Called after each epoch (after its evaluation). Optional.
  std::function<void(const LocalEpoch&)> on_epoch;
};

// REQUIRES: train and test fit job.model (features and classes).
StatusOr<LocalResult> TrainLocal(const JobSpec& job, const Dataset& train, const Dataset& test,
                                 const LocalOptions& options);

}  // namespace pst
