// The scheduler's view of one job (pst::SchedulerState) and its parts: the
// nodes, per-epoch records, complete checkpoints and rollbacks. Owned and
// touched only by the scheduler's Run() thread. StateToJson/StateFromJson
// (scheduler/state_json.h) persist what a restarted scheduler needs.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/client_table.h"
#include "common/latency_histogram.h"
#include "common/sparse_table_report.h"
#include "proto/scheduler.capnp.h"
#include "scheduler/admin_snapshot.h"
#include "scheduler/checkpoint_coordinator.h"
#include "scheduler/job_store.h"
#include "scheduler/shard_pool.h"

namespace pst {

using Clock = std::chrono::steady_clock;

struct NodeInfo {
  proto::Role role;
  uint32_t rank;
  std::string identity;  // ROUTER identity of the socket that registered
  std::string endpoint;
  std::string host;
  uint32_t pid = 0;
  Clock::time_point last_seen;
  proto::NodeState state = proto::NodeState::ALIVE;
  uint64_t clock = 0;
  uint64_t samples = 0;
  double loss_sum = 0;
  uint64_t steps = 0;
  uint64_t max_staleness = 0;
  LimitRefusals refusals;  // PS: requests it refused by each limit
  // Training speed, measured over windows of at least a second of heartbeats.
  double samples_per_second = 0;
  uint64_t rate_samples = 0;     // samples at the start of the current window
  Clock::time_point rate_since;  // start of the current window (epoch = none yet)
  uint32_t generation = 0;       // the generation it reported being in
  // PS: its latest report on checkpoints, restores and the workers it waits for.
  uint64_t checkpoint_written = 0;
  uint64_t checkpoint_failed = 0;
  std::string checkpoint_error;
  std::string restore_error;
  std::map<uint32_t, uint64_t> waits_for;  // worker rank -> from clock
  std::map<uint32_t, uint64_t> removed;    // worker rank -> completed clocks
  std::vector<SparseTableReport> sparse_tables;  // its sparse tables' accounting
  bool reported = false;         // a heartbeat arrived since it (re)joined
  // Worker: its place in the roster the PS wait for.
  bool in_roster = false;
  uint64_t from_clock = 0;       // PS wait for it from this clock
  bool started = false;          // it confirmed starting at from_clock
  // Registered while the job runs and not in the roster yet: it enters it at
  // its first shard request, once it has loaded its data, so that nobody
  // waits for it (BSP) or is held back by it (checkpoints) meanwhile.
  bool joining = false;
  bool removing = false;         // PS are told to stop waiting; lease not yet returned
  bool leave_requested = false;  // scaled down: asked to leave
  // Worker: its cumulative pull and push latencies, from the last heartbeat
  // that carried valid ones (common/latency_histogram.h; empty until then).
  LatencyHistogram pull_latency;
  LatencyHistogram push_latency;
  bool latency_warned = false;   // an invalid histogram from it was logged
  // Worker: what its last heartbeat answer said (see HeartbeatAnswerSig in
  // scheduler/membership.cc) and when it was sent.
  uint64_t answered_sig = 0;
  Clock::time_point answered_at;
  bool Gone() const { return state == proto::NodeState::DEAD || state == proto::NodeState::LEFT; }
};

struct EpochRecord {
  uint64_t samples = 0;
  double loss_sum = 0;
  bool evaluated = false;
  uint64_t test_correct = 0;
  uint64_t test_total = 0;
  double test_loss_sum = 0;
  bool has_auc = false;  // sparse models: test AUC
  double test_auc = 0;
  uint64_t start_ms = 0;
  uint64_t end_ms = 0;
  double wait_ms = 0;     // workers' time in the epoch's leases, by activity
  double compute_ms = 0;
  double push_ms = 0;
};

struct RollbackRecord {
  uint32_t generation = 0;
  uint64_t checkpoint_id = 0;
  uint64_t clock = 0;
  uint64_t lost_clocks = 0;
  std::string reason;
  uint64_t start_ms = 0;
  uint64_t end_ms = 0;
};

struct CompleteCheckpoint {
  uint64_t id = 0;
  uint64_t clock = 0;
  uint32_t generation = 0;
  double duration_ms = 0;
  int64_t unix_ms = 0;
};

// A client waiting for an on-demand checkpoint.
struct CheckpointWaiter {
  std::string identity;
  uint64_t request_id = 0;
  Clock::time_point deadline;
};

class SchedulerState {
 public:
  proto::JobState state = proto::JobState::FORMING;
  // Rollbacks bump the generation; the job restarts from restore_checkpoint
  // (0: the initial model) at resume_clock.
  uint32_t generation = 0;
  uint64_t restore_checkpoint = 0;
  uint64_t resume_clock = 0;
  Clock::time_point recovering_since;
  std::vector<RollbackRecord> rollbacks;
  std::vector<CompleteCheckpoint> checkpoints;  // oldest first
  CheckpointCoordinator coordinator;
  std::vector<CheckpointWaiter> checkpoint_waiters;
  bool checkpoint_wanted = false;  // an on-demand round is asked for
  Clock::time_point last_checkpoint_at = Clock::now();
  uint64_t last_checkpoint_clock = 0;
  // Pace estimate: the fastest PS version over time.
  uint64_t pace_version = 0;
  Clock::time_point pace_at;
  double clocks_per_second = 0;
  // The pace has been measured once since this scheduler started: until then
  // (e.g. right after a restart, before every node's clock is heard) a round
  // would be placed too close and miss.
  bool pace_known = false;
  uint32_t desired_workers = 0;
  std::unique_ptr<JobStore> store;  // null without a state directory
  Clock::time_point saved_at;
  // Evaluation orders handed out and not yet reported: epoch -> (worker, version).
  std::map<uint32_t, std::pair<uint32_t, uint64_t>> evals_out;
  uint64_t directive_sig = 0;  // see FillDirective in scheduler.cc
  uint64_t directive_seq = 0;
  // Set wherever a worker's place in the roster (in_roster, from_clock) may
  // have changed: the loop's directive check re-hashes the roster only then
  // and at every sweep, not every tick (Membership::PushDirective).
  bool roster_changed = true;
  // At least every clock a node ever reported (see ReportClock): while it is
  // below a threshold, so is SchedulerCore::FastestClock(), without a walk.
  uint64_t clock_bound = 0;
  std::string failure;
  // Non-empty while the job cannot go on by itself (see LeaseService::
  // WatchWorkers): what it waits for; and since when no worker is live.
  std::string waiting_for;
  Clock::time_point waiting_since;
  std::vector<NodeInfo> servers;
  std::vector<NodeInfo> workers;
  std::optional<ShardPool> pool;
  std::vector<EpochRecord> epochs;
  Clock::time_point created = Clock::now();
  Clock::time_point started;        // every node registered
  Clock::time_point train_started;  // first data shard asked for (data loaded)
  Clock::time_point ended;
  std::string admin_url;  // "" when the admin endpoint is disabled
  // The live training curve for the admin endpoint: one point about every
  // second while training, thinned out (every other point dropped) when full.
  static constexpr size_t kMaxHistory = 3000;
  std::vector<AdminHistoryPoint> history;
  Clock::time_point history_at;  // when the last point was taken
  uint64_t history_samples = 0;  // workers' samples and loss sum at that point
  double history_loss_sum = 0;
  // Training time so far: from the first shard request to the end of the job.
  uint64_t ElapsedMs() const {
    if (!pool) return 0;
    const bool over = state == proto::JobState::DONE || state == proto::JobState::FAILED;
    const auto until = over ? ended : Clock::now();
    return std::chrono::duration_cast<std::chrono::milliseconds>(until - train_started).count();
  }
  // Records the clock node n reported; every write of NodeInfo::clock goes here.
  void ReportClock(NodeInfo& n, uint64_t clock) {
    n.clock = clock;
    clock_bound = std::max(clock_bound, clock);
  }
  NodeInfo* Find(proto::Role role, uint32_t rank) {
    auto& v = role == proto::Role::SERVER ? servers : workers;
    return rank < v.size() ? &v[rank] : nullptr;
  }
  const NodeInfo* Find(proto::Role role, uint32_t rank) const {
    return const_cast<SchedulerState*>(this)->Find(role, rank);
  }
};

}  // namespace pst
