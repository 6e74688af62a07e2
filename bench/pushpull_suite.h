// Suite "pushpull": dense push + pull round trips between one in-process worker
// and one PS over loopback TCP (the real pst::Scheduler, pst::Server and
// pst::PsClient, each with its own ZeroMQ context and threads) for the default
// model, 1M and 10M float32 values, each with the whole model as one block and
// with smaller job.train.block_keys, compared with a bare ZeroMQ DEALER ->
// ROUTER echo of the same bytes (in one frame, and in 2^18-float frames).
#pragma once

#include <cstdint>

#include "bench/bench_util.h"
#include "common/status.h"

namespace pst::bench {

struct PushPullConfig {
  // Timed round trips per row; 0 = per-size defaults (200 for the default
  // model, 100 for 1M values, 20 for 10M). Default: 0.
  uint64_t iters = 0;
  // Also time the whole-model block and the default block size with CurveZMQ
  // on every socket (fresh keys), against the plain rows. Default: false.
  bool secure = false;
};

// Prints two tables and adds report.json["pushpull"] and summary lines. A row
// that fails (a role that failed or did not stop, a request that failed or
// timed out; every wait is bounded) is shown as FAILED and the suite goes on;
// the first such error is returned at the end.
Status RunPushPullSuite(const PushPullConfig& config, Report& report);

}  // namespace pst::bench
