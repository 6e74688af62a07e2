// `pstrain checkpoint` and `pstrain scale`: requests to a running job's
// scheduler (CheckpointRequest, ScaleRequest over ZeroMQ).
#pragma once

#include <chrono>
#include <ostream>
#include <string>

#include "common/control_requests.h"
#include "common/status.h"

namespace pst {

struct ControlTarget {
  // The scheduler's address, or a `pstrain launch` run directory. Exactly one.
  std::string scheduler;
  std::string run_dir;
  // The cluster's key directory for a secured job; "" = the run directory's
  // job.toml names it, or the job has none.
  std::string key_dir;
};

// Asks for a coordinated checkpoint now and waits until every PS has written
// it and the scheduler has recorded it (or it failed). Prints one line with
// its id, clock and duration. Errors: kFailedPrecondition (the job is not
// running), kDeadlineExceeded (no complete checkpoint within `timeout`),
// kUnavailable (no scheduler answers), or the scheduler's reason.
Status RunCheckpointCommand(const ControlTarget& target, std::chrono::milliseconds timeout,
                            std::ostream& out);

// Sets the number of workers the job should have. Scaling down, the scheduler
// asks the newest workers to hand back their leases and leave; scaling up, a
// supervising `pstrain launch` starts more (without one, start pstrain-worker
// processes pointed at the scheduler yourself). Prints one line.
Status RunScaleCommand(const ControlTarget& target, uint32_t workers, std::ostream& out);

}  // namespace pst
