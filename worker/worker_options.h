// Options for a training worker (pst::Worker).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/cluster_keys.h"
#include "common/wire.h"

namespace pst {

struct WorkerOptions {
  // Scheduler address, e.g. "tcp://10.0.0.1:7000". Required.
  std::string scheduler_endpoint;
  // Directory with the IDX files; empty uses the job's data.dir. Default: "".
  std::string data_dir;
  // The scheduler must answer registration within this. Default: 10 s.
  std::chrono::milliseconds connect_timeout{10000};
  // Every node must register within this. Default: 120 s.
  std::chrono::milliseconds form_timeout{120000};
  // Longest wait for a PS or scheduler answer; under BSP this includes waiting
  // for the slowest worker of a clock. Default: 300 s.
  std::chrono::milliseconds request_timeout{300000};
  // If this worker runs the final evaluation, it also saves the final model here
  // (safetensors). Default: "" (don't save).
  std::string model_out;
  // Extra sleep before each step, to play a straggler in experiments. Default: 0.
  uint32_t step_delay_ms = 0;
  // OpenBLAS threads for the model math. Default: 1.
  int blas_threads = 1;
  // CPUs for the thread that trains (and computes, with 1 BLAS thread), set
  // once it is connected: the network and heartbeat threads started before
  // stay where the process runs. Empty: not pinned. Default: empty.
  std::vector<int> compute_cpus;
  // While the scheduler has no lease yet ("wait"), or under ASP/SSP says to
  // idle for other workers' leases with no clock to catch up, ask again after
  // this. Default: 50 ms.
  std::chrono::milliseconds lease_wait_retry{50};
  // Pause of a training loop with neither a lease nor clocks to idle
  // through (a safeguard against spinning). Default: 5 ms.
  std::chrono::milliseconds idle_poll{5};
  // At the end of training, how long to wait for the last pushes to be
  // acknowledged (a warning if they are not). Default: 5 s.
  std::chrono::milliseconds final_push_wait{5000};
  // How long to wait for the scheduler to acknowledge that this worker leaves
  // (best effort: its heartbeat timeout covers a lost answer). Default: 1 s.
  std::chrono::milliseconds leave_timeout{1000};
  // Size limits for received messages.
  WireLimits limits;
  // The cluster's keys: every socket uses CurveZMQ with them (see
  // common/cluster_keys.h). Null: plain TCP. Default: null.
  std::shared_ptr<const ClusterKeys> curve;
};

}  // namespace pst
