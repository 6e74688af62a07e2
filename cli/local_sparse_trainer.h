// pst::TrainSparseLocal: a sparse job (lr, fm, embedding_mlp) trained on one
// thread with pstrain's own parts and no network in between: `pstrain local`
// of a sparse job, the reference a BSP cluster run must reproduce, and the
// throughput baseline of the bench's sparse-train suite. It runs the
// cluster's BSP schedule: `num_workers` virtual workers lease record ranges
// of the training file from the same ShardPool the scheduler uses (the
// same batches at the same clocks; which worker trains which does not
// matter, see below), each reading them with the worker's reader (worker/data/sparse_file_index.h), id dedup
// and model (worker/models/), pulling the rows and dense values at version ==
// clock and pushing its gradient sums with the batch's data order to the
// servers' own code held in process (cli/local_sparse_servers.h: a
// SparseShard per server, the job's slot map, a Shard for the dense tables).
// The servers sum each clock's pushes in data order, so the model after every
// clock is bit for bit the one a BSP cluster of the same job (servers,
// workers, data, hyper-parameters) computes, and so are the test AUC and
// log-loss of every epoch (evaluated at the clock the scheduler closes the
// epoch at, with the workers' loop, worker/sparse_evaluation.h). Rows are
// created, admitted and evicted as on the servers. OpenBLAS single-threaded,
// as the workers run it. (bench/ctr_reference.h is the quality baseline:
// deliberately plain code, not tuned for speed.) Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
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

// A sparse table at the end, summed over the servers.
struct SparseLocalTable {
  std::string name;
  uint64_t rows = 0;
  uint64_t evicted = 0;             // rows dropped by eviction
  uint64_t unadmitted_updates = 0;  // row updates dropped before admission
};

struct SparseLocalResult {
  uint64_t samples = 0;       // training samples over every epoch
  double train_seconds = 0;   // the training passes only (evaluations excluded)
  double test_auc = 0;        // after the last epoch
  std::vector<SparseLocalEpoch> epochs;
  std::vector<SparseLocalTable> tables;
};

struct SparseLocalOptions {
  // Virtual workers whose batches form each BSP clock. Default: 1.
  uint32_t num_workers = 1;
  // Evaluate on the test file after every epoch (else after the last only).
  // Default: true.
  bool evaluate_every_epoch = true;
  // Called after each epoch (after its evaluation, if any). Optional.
  std::function<void(const SparseLocalEpoch&)> on_epoch;
};

// kInvalidArgument for a job that is not sparse, not BSP or not valid, or
// num_workers 0; the readers' and tables' errors (a malformed line names its
// file and line).
StatusOr<SparseLocalResult> TrainSparseLocal(const JobSpec& job,
                                             const SparseLocalOptions& options = {});

}  // namespace pst
