// The job's status as clients see it: the JobStatusResponse (`pstrain
// status`, `pstrain launch`) and the admin snapshot (/status, /metrics, the
// dashboard), which is made from that same response plus what only the
// admin endpoint shows (the live curve, latency histograms, the job's
// shape). Run() thread only; the functions do not block.
#pragma once

#include <cstdint>

#include "proto/scheduler.capnp.h"
#include "scheduler/admin_snapshot.h"
#include "scheduler/scheduler_core.h"

namespace pst {

// Fills the answer to a JobStatusRequest.
void FillJobStatus(const SchedulerCore& core, proto::JobStatusResponse::Builder resp);

// The admin endpoint's view of the job now.
AdminSnapshot BuildAdminSnapshot(const SchedulerCore& core, const std::string& admin_url);

// Adds a point to the live training curve if history_interval has passed and
// the workers trained something since the last point.
void SampleHistory(const SchedulerOptions& options, SchedulerState& st);

}  // namespace pst
