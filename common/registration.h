// Joining a job: a PS or worker registers with the scheduler, learns its rank,
// then waits until every expected node has registered and the scheduler sends
// the job (JobStart). Shared by every role that joins a job.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "common/channel.h"
#include "common/job_spec.h"
#include "common/key_range.h"
#include "common/status.h"
#include "proto/scheduler.capnp.h"

namespace pst {

struct ServerEntry {
  uint32_t rank = 0;
  std::string endpoint;
  KeyRange range;
};

struct JoinedJob {
  uint32_t rank = 0;
  std::chrono::milliseconds heartbeat_interval{500};
  JobSpec job;
  std::vector<ServerEntry> servers;  // ordered by rank, ranges cover the model
  uint32_t num_workers = 0;
};

struct JoinOptions {
  proto::Role role = proto::Role::WORKER;
  // What peers use to reach this node ("" for workers).
  std::string endpoint;
  // The scheduler must answer the registration within this. Default: 10 s.
  std::chrono::milliseconds connect_timeout{10000};
  // Every node must have registered within this. Default: 120 s.
  std::chrono::milliseconds form_timeout{120000};
};

// Registers over `scheduler` and blocks until JobStart arrives. `on_registered`
// runs once the rank is known (e.g. to start heartbeats). Errors:
// kUnavailable (the scheduler did not answer: the message says to check the
// address and that pstrain-scheduler runs), kDeadlineExceeded (the job did not
// form in time), kCancelled (stop set), kInvalidArgument (bad JobStart), or the
// scheduler's own refusal (e.g. kResourceExhausted when the job is full).
StatusOr<JoinedJob> JoinJob(Channel& scheduler, const JoinOptions& options,
                            const std::atomic<bool>* stop,
                            const std::function<void(const JoinedJob&)>& on_registered);

}  // namespace pst
