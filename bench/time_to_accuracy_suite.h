// Suite "tta": wall time to reach a test accuracy (default 85%) on Fashion-MNIST
// with the default model and hyper-parameters: the straightforward
// single-process trainer (bench/plain_trainer.h) against pstrain launches
// (2 PS + 2 workers, the default job, and 1 PS + 1 worker) stopped by
// --target-accuracy, measured in the same run.
#pragma once

#include <string>

#include "bench/bench_util.h"
#include "common/status.h"

namespace pst::bench {

struct TimeToAccuracyConfig {
  double target_accuracy = 0.85;
  uint32_t max_epochs = 10;
  // Directory of pstrain-scheduler, pstrain-ps and pstrain-worker. Required.
  std::string bin_dir;
};

Status RunTimeToAccuracySuite(const TimeToAccuracyConfig& config, Report& report);

}  // namespace pst::bench
