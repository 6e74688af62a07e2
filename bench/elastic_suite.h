// Suite "elastic": does throughput follow the worker count when a running job
// is scaled? One job (the default model, 1 PS) starts with one worker and is
// scaled through the phases (1 -> 2 -> 4 -> 1 workers) with `pstrain scale`'s
// code (RunScaleCommand) while it trains; the supervising launcher starts the
// new workers and the scheduler rebalances the data-shard leases. Every worker
// sleeps a fixed time before each step on top of its real compute
// (LaunchOptions::step_delay_ms): it emulates workers whose compute happens on
// other, slower machines, so that on a small machine the figure shows the
// elastic mechanism rather than the machine's cores. Runs under ASP and BSP,
// each also without the delay for contrast.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "common/status.h"

namespace pst::bench {

struct ElasticConfig {
  // Every worker's sleep before each step (emulated compute). Default: 10 ms.
  uint32_t step_delay_ms = 10;
  // Worker counts of the phases, in order; the job starts with the first.
  // Default: 1, 2, 4, 1.
  std::vector<uint32_t> phases = {1, 2, 4, 1};
  // Once a phase's workers are all alive and have reported trained samples,
  // wait this long before measuring (a new worker's first pulls). Default: 0.75 s.
  std::chrono::milliseconds settle{750};
  // Each phase's measurement window. Default: 2 s.
  std::chrono::milliseconds window{2000};
  // Also run the phases without the delay. Default: true.
  bool contrast = true;
  // Directory of pstrain-scheduler, pstrain-ps and pstrain-worker. Required.
  std::string bin_dir;
};

// Prints one table per consistency model and adds report.json["elastic"] and
// summary lines. Run directories go under a fresh /tmp/pstrain-bench-elastic-*,
// removed on success and kept (and named in the error) on failure. Errors:
// kInvalidArgument (bad config), the launch's error when a job fails,
// kDeadlineExceeded when the workers of a phase do not all join within 30 s.
Status RunElasticSuite(const ElasticConfig& config, Report& report);

}  // namespace pst::bench
