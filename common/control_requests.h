// Requests that steer a running job, sent to its scheduler over a Channel: a
// ScaleRequest and a CheckpointRequest. Shared by the CLI (`pstrain scale`,
// `pstrain checkpoint`, the launcher) and the scheduler's admin endpoint.
#pragma once

#include <chrono>
#include <cstdint>

#include "common/channel.h"
#include "common/status.h"

namespace pst {

// One ScaleRequest for `workers`, answered within `timeout`: returns the
// number of live workers the scheduler reported, or its refusal (as its
// status, with "scale: " before it) or the transport's error (kUnavailable
// when no answer came in time).
StatusOr<uint32_t> RequestScale(Channel& channel, uint32_t workers, std::chrono::milliseconds timeout);

struct CheckpointDone {
  uint64_t id = 0;
  uint64_t clock = 0;
  double duration_ms = 0;
};

// One CheckpointRequest asking for a checkpoint within `timeout`; waits up to
// timeout + 5 s for the answer (sent once the round is decided). Returns the
// complete checkpoint, or the scheduler's refusal (with "checkpoint: " before
// it: kFailedPrecondition when the job is not running, kDeadlineExceeded when no
// checkpoint completed in time) or the transport's error (kUnavailable when no
// answer came in time).
StatusOr<CheckpointDone> RequestCheckpoint(Channel& channel, std::chrono::milliseconds timeout);

}  // namespace pst
