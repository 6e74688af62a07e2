// Suite "sparse-large": a sparse table of 10^7 rows x dim 16 (Adagrad) on
// this machine (not part of "all": it needs a few GB and a few minutes).
//   train       embedding + MLP (dim 16) on synthetic Criteo-like data whose
//               vocabulary makes the training file touch more than 10^7 ids:
//               `pstrain launch` 1 PS + 1 worker, BSP, one epoch, coordinated
//               checkpoints: samples/s, rows created (from the PS's last
//               checkpoint), the PS's peak resident memory against the raw
//               bytes of key + row + state of its rows, the scheduler's
//               checkpoint rounds;
//   checkpoint  the PS's own code in this process on those rows: restore from
//               the cluster's last checkpoint (time, resident-memory growth
//               per row), a full capture + synced RocksDB write, an
//               incremental one after updates to a tenth of the rows, the
//               restore of that chain; and the resident memory a capture adds.
#pragma once

#include <cstdint>
#include <string>

#include "bench/bench_util.h"
#include "common/status.h"

namespace pst::bench {

struct SparseLargeConfig {
  // Directory of pstrain-scheduler, pstrain-ps and pstrain-worker. Required.
  std::string bin_dir;
  // Synthetic samples (train and test together), vocabulary per field and
  // Zipf exponent: the defaults touch about 1.3 * 10^7 ids in the training
  // file. Defaults: 900,000, 10^8, 0.9.
  uint64_t samples = 900'000;
  uint64_t vocabulary = 100'000'000;
  double zipf = 0.9;
  // The job's checkpoint interval, in steps. Default: 1000.
  uint64_t checkpoint_every = 1000;
};

// Prints the tables; adds report.json["sparse_large"] and summary lines. Works
// under a fresh /tmp/pstrain-bench-sparse-large-XXXXXX, removed on success and
// kept (named in the error) on failure.
Status RunSparseLargeSuite(const SparseLargeConfig& config, Report& report);

}  // namespace pst::bench
