// The part of pst::SchedulerState a restarted scheduler needs, as JSON (kept in
// the job store, scheduler/job_store.h): generation and restore point, the
// members, per-epoch records, the data-shard pool with its leases, rollbacks
// and the last checkpoint id handed out. Complete checkpoints are recorded
// separately (JobStore::RecordCompleteCheckpoint is the commit point).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "common/job_spec.h"
#include "common/status.h"
#include "scheduler/scheduler_state.h"

namespace pst {

nlohmann::json StateToJson(const SchedulerState& st, const std::string& endpoint);

// Fills st from j (written by StateToJson for `job`). kDataLoss naming the
// field for anything missing or malformed; st is then partly filled and
// must not be used.
Status StateFromJson(const nlohmann::json& j, const JobSpec& job, SchedulerState* st);

}  // namespace pst
