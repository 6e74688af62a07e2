// Suite "consistency": the default job on a local cluster of 2 PS + 3 workers
// under BSP, SSP (staleness 2 and 4) and ASP, each with and without a
// straggler (one worker sleeping before every step): training throughput,
// final accuracy and time to a target accuracy.
#pragma once

#include <cstdint>
#include <string>

#include "bench/bench_util.h"
#include "common/status.h"

namespace pst::bench {

struct ConsistencyConfig {
  // Epochs of every run. Default: 3.
  uint32_t epochs = 3;
  // Time-to-accuracy target (test accuracy after an epoch). Default: 0.84.
  double target_accuracy = 0.84;
  // The straggler's sleep before each of its steps. Default: 2 ms.
  uint32_t straggler_delay_ms = 2;
  // Directory of pstrain-scheduler, pstrain-ps and pstrain-worker. Required.
  std::string bin_dir;
};

// Prints one table and adds report.json["consistency"] and summary lines.
Status RunConsistencySuite(const ConsistencyConfig& config, Report& report);

}  // namespace pst::bench
