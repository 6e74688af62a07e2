// The throughput baseline of the sparse-train suite: a sparse job trained on
// one thread with pstrain's own parts and no network in between. The worker's
// reader (worker/data/sparse_reader.h), id dedup and model
// (worker/models/), the PS's SparseTable per sparse table (ps/sparse_table.h,
// its options from the job as the PS builds them: ps/sparse_table_spec.h) and
// the PS's dense optimizer per dense table (ps/optimizer.h); each step pulls
// the batch's unique ids, runs forward + backward, and pushes the summed
// gradients scaled by 1 / batch size, as a 1-worker BSP cluster does.
// OpenBLAS single-threaded, as the workers run it. (bench/ctr_reference.h is
// the quality baseline: deliberately plain code, not tuned for speed.)
// Not thread-safe.
#pragma once

#include <cstdint>

#include "common/job_spec.h"
#include "common/status.h"

namespace pst::bench {

struct InProcessResult {
  uint64_t samples = 0;       // training samples over every epoch
  double train_seconds = 0;   // the training passes only (evaluations excluded)
  double test_auc = 0;        // after the last epoch
};

// kInvalidArgument for a job that is not sparse or not valid; the readers'
// and tables' errors.
StatusOr<InProcessResult> TrainSparseInProcess(const JobSpec& job);

}  // namespace pst::bench
