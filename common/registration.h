// Joining a job: a PS or worker registers with the scheduler, learns its rank,
// then waits until every expected node has registered and the scheduler sends
// the job (JobStart). Shared by every role that joins a job.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/channel.h"
#include "common/job_spec.h"
#include "common/key_range.h"
#include "common/slot_map.h"
#include "common/status.h"
#include "proto/scheduler.capnp.h"

namespace pst {

struct ServerEntry {
  uint32_t rank = 0;
  std::string endpoint;
  KeyRange range;
};

// A worker a PS waits for from clock from_clock on (see proto WorkerSlot).
struct WorkerSlot {
  uint32_t rank = 0;
  uint64_t from_clock = 0;
  bool operator==(const WorkerSlot&) const = default;
};

struct JoinedJob {
  uint32_t rank = 0;
  std::chrono::milliseconds heartbeat_interval{500};
  JobSpec job;
  std::vector<ServerEntry> servers;  // ordered by rank, ranges cover the model
  uint32_t num_workers = 0;
  // Where training (re)starts: generation, the complete checkpoint a PS restores
  // (0: the initial model) and the clock it holds.
  uint32_t generation = 0;
  uint64_t restore_checkpoint = 0;
  uint64_t resume_clock = 0;
  std::vector<WorkerSlot> workers;  // PS: the workers to wait for
  // Sparse jobs: the scheduler's map of virtual slots to PS ranks (one per
  // server); unset for dense jobs.
  std::optional<SlotMap> slot_map;
};

// Decodes a list of proto WorkerSlot (as JobStart and heartbeats carry them).
std::vector<WorkerSlot> DecodeWorkerSlots(capnp::List<proto::WorkerSlot>::Reader list);

struct JoinOptions {
  proto::Role role = proto::Role::WORKER;
  // What peers use to reach this node ("" for workers).
  std::string endpoint;
  // PS: the shard id it asks for (its state directory holds that shard); -1:
  // any free one. Default: -1.
  int32_t shard_id = -1;
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
