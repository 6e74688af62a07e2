// Suite "train": training throughput (samples/s) of the default job
// (Fashion-MNIST, 784-128-10, Adam, batch 64) in one process (pst::TrainLocal)
// and on local clusters of separate processes (pst::Launch): 1 PS + 1 worker,
// and the default 2 PS + 2 workers.
#pragma once

#include <cstdint>
#include <string>

#include "bench/bench_util.h"
#include "common/status.h"

namespace pst::bench {

struct TrainConfig {
  // Passes over the training set in every run. Default: 2.
  uint32_t epochs = 2;
  // Rounds of every run (in-process and clusters, in turn); with more than
  // one, the ratios are also given as medians and ranges over the rounds.
  // Default: 1.
  uint32_t repeat = 1;
  // Also run 1 + 1 and 2 + 2 BSP secured with CurveZMQ (pstrain launch
  // --secure) and give their throughput against the plain runs. Default: false.
  bool secure = false;
  // Directory of pstrain-scheduler, pstrain-ps and pstrain-worker. Required.
  std::string bin_dir;
};

// Prints one table (of the first round) and, with repeat > 1, each setup's
// ratios over the rounds; adds report.json["train"] and summary lines (the
// median ratios when repeated). Run
// directories go under a fresh /tmp/pstrain-bench-XXXXXX, removed on success
// and kept (and named in the error) on failure.
Status RunTrainSuite(const TrainConfig& config, Report& report);

}  // namespace pst::bench
