#include "scheduler/recovery.h"

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "scheduler/checkpoint_rounds.h"
#include "scheduler/state_json.h"

namespace pst {

void Recovery::Start(const std::string& reason, bool expected) {
  const uint64_t fastest = core_.FastestClock();
  rounds_.Abort("the job is rolling back: " + reason);
  ++st_.generation;
  // Only nodes of the new generation count for FastestClock(), and each
  // reports its clock (ReportClock) with the heartbeat that tells its generation.
  st_.clock_bound = 0;
  st_.restore_checkpoint = st_.checkpoints.empty() ? 0 : st_.checkpoints.back().id;
  st_.resume_clock = st_.checkpoints.empty() ? 0 : st_.checkpoints.back().clock;
  const uint64_t k = st_.resume_clock;
  st_.evals_out.clear();  // epochs the rollback reopens are closed and evaluated again
  if (st_.pool) {
    st_.pool->Rollback(k);
    for (uint32_t e = 0; e < st_.epochs.size(); ++e) st_.epochs[e].samples = st_.pool->DoneSamples(e);
    // Epochs the pool reopened will close (and be evaluated) again.
    for (uint32_t e = st_.pool->epoch(); e < st_.epochs.size(); ++e) {
      st_.epochs[e].evaluated = false;
      st_.epochs[e].end_ms = 0;
    }
  }
  for (NodeInfo& w : st_.workers) {
    if (w.Gone()) {
      // Everything it did after K is undone with the rollback.
      if ((w.in_roster || w.removing) && st_.pool) st_.pool->ReturnWorker(w.rank, k);
      w.in_roster = false;
    } else {
      w.in_roster = !w.leave_requested;
      if (w.leave_requested && st_.pool) st_.pool->ReturnWorker(w.rank, k);
    }
    w.removing = false;
    w.joining = false;  // in the roster (if live) from K, with everyone
    w.from_clock = k;
    w.started = false;
  }
  st_.roster_changed = true;
  RollbackRecord r;
  r.generation = st_.generation;
  r.checkpoint_id = st_.restore_checkpoint;
  r.clock = k;
  r.lost_clocks = fastest > k ? fastest - k : 0;
  r.reason = reason;
  r.start_ms = st_.ElapsedMs();
  st_.rollbacks.push_back(r);
  st_.state = proto::JobState::RECOVERING;
  st_.recovering_since = Clock::now();
  const std::string to = st_.restore_checkpoint ? "checkpoint " + std::to_string(st_.restore_checkpoint)
                                                : std::string("the initial model");
  if (expected) {
    PST_LOG_INFO("{} after every worker: the job rolls back to {} (clock {}); generation {}", reason, to, k,
                 st_.generation);
  } else {
    PST_LOG_WARN("{}: rolling back to {} (clock {}, {} clocks to redo); generation {}", reason, to, k,
                 r.lost_clocks, st_.generation);
  }
  core_.SaveState(/*sync=*/true);
}

void Recovery::Tick(Clock::time_point now) {
  if (st_.state != proto::JobState::RECOVERING) return;
  const SchedulerOptions& options = core_.options;
  bool ready = true;
  for (const NodeInfo& p : st_.servers) {
    if (!p.restore_error.empty() && p.generation < st_.generation && !p.Gone() && p.reported) {
      core_.Fail("PS " + std::to_string(p.rank) + " cannot restore checkpoint " +
                 std::to_string(st_.restore_checkpoint) + ": " + p.restore_error);
    }
    ready = ready && !p.Gone() && !p.identity.empty() && p.generation == st_.generation;
  }
  if (st_.state != proto::JobState::RECOVERING) return;
  if (ready) {
    st_.state = proto::JobState::RUNNING;
    st_.rollbacks.back().end_ms = st_.ElapsedMs();
    st_.last_checkpoint_at = now;
    PST_LOG_INFO("every PS restored generation {}; training continues at clock {}", st_.generation,
                 st_.resume_clock);
  } else if (now - st_.recovering_since > options.recovery_timeout) {
    std::string dead;
    for (const NodeInfo& p : st_.servers)
      if (p.Gone() || p.identity.empty()) dead += (dead.empty() ? "" : ", ") + std::to_string(p.rank);
    core_.Fail("the job could not recover within " + std::to_string(options.recovery_timeout.count() / 1000) +
               " s" +
               (dead.empty() ? "" : " (no live PS for shard " + dead +
                                        "; start one with pstrain-ps --shard-id K --state-dir DIR)"));
  }
}

Status Recovery::OpenStore() {
  SchedulerOptions& options = core_.options;
  if (options.state_dir.empty()) return Status::OK();
  JobStoreOptions so;
  so.path = options.state_dir;
  PST_ASSIGN_OR_RETURN(st_.store, JobStore::Create(so));
  auto job = st_.store->LoadJob();
  if (job.status().code() == StatusCode::kNotFound) {
    // A new job.
    PST_RETURN_IF_ERROR(st_.store->SaveJob(options.job));
    return Status::OK();
  }
  if (!job.ok()) return job.status().WithContext("reading the job from " + options.state_dir);
  if (!(*job == options.job))
    PST_LOG_WARN("the job in {} differs from the one given; continuing the stored job", options.state_dir);
  options.job = *job;
  PST_ASSIGN_OR_RETURN(std::string text, st_.store->LoadState());
  auto parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded())
    return Status::DataLoss("the job state in " + options.state_dir + " is not valid JSON");
  PST_RETURN_IF_ERROR(StateFromJson(parsed, options.job, &st_));
  PST_ASSIGN_OR_RETURN(auto records, st_.store->ListCompleteCheckpoints());
  st_.checkpoints.clear();
  for (const CheckpointRecord& r : records)
    st_.checkpoints.push_back({r.id, r.clock, r.generation, r.duration_ms, r.unix_ms});
  if (!st_.checkpoints.empty()) {
    st_.coordinator = CheckpointCoordinator(std::max(st_.coordinator.last_id(), st_.checkpoints.back().id));
    st_.last_checkpoint_clock = st_.checkpoints.back().clock;
  }
  if (options.resume) {
    // Every process stopped: new PS and workers register; old members are gone.
    for (NodeInfo& w : st_.workers) w.state = proto::NodeState::LEFT;
    Start("resuming the job");
    st_.servers.clear();
    st_.workers.clear();
    st_.state = proto::JobState::FORMING;
    st_.created = Clock::now();
    PST_LOG_INFO("resuming the job from {} at clock {}",
                 st_.restore_checkpoint ? "checkpoint " + std::to_string(st_.restore_checkpoint)
                                        : std::string("the start"),
                 st_.resume_clock);
  } else {
    // Took over from a scheduler that crashed: the same nodes reconnect.
    for (auto* list : {&st_.servers, &st_.workers})
      for (NodeInfo& n : *list) n.last_seen = Clock::now();
    st_.started = Clock::now();
    Start("the scheduler restarted");
  }
  return Status::OK();
}

}  // namespace pst
