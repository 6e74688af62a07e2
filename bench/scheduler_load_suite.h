// Suite "scheduler": one real pstrain-scheduler process (as shipped, with its
// admin endpoint, which nobody reads here) against N simulated workers (and
// one simulated PS) in this process: registration, heartbeats at the job's
// interval, data-shard lease requests and their reports, evaluation reports
// when asked; no training, no parameter traffic. Measures the scheduler's CPU
// share (its /proc utime + stime over wall time) while only heartbeats flow
// (first against a scheduler asked to keep the fixed job interval, then at
// the default heartbeat budget, after half a phase of no messages at all),
// then again with every worker also asking for a lease at a fixed interval,
// and the lease round trips (request sent -> answer received) of that phase.
// The job is ASP with checkpoints off, so leases never wait for a clock
// barrier.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "bench/bench_util.h"
#include "common/status.h"

namespace pst::bench {

struct SchedulerLoadConfig {
  // Simulated workers. Default: 1000.
  uint32_t workers = 1000;
  // Heartbeat interval of every node (the job's network.heartbeat_ms). Default:
  // 500 ms, the job default.
  std::chrono::milliseconds heartbeat{500};
  // Each worker asks for its next lease this long after the previous answer
  // (its emulated time to train one lease). Default: 1 s.
  std::chrono::milliseconds lease_interval{1000};
  // Length of each measured phase. Default: 10 s.
  std::chrono::milliseconds window{10000};
  // Directory of pstrain-scheduler. Required.
  std::string bin_dir;
};

// Prints a table and adds report.json["scheduler"] and summary lines.
// kUnavailable if the scheduler cannot be started or does not answer,
// kInternal if it refuses the simulated nodes.
Status RunSchedulerLoadSuite(const SchedulerLoadConfig& config, Report& report);

}  // namespace pst::bench
