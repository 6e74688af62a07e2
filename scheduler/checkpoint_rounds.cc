#include "scheduler/checkpoint_rounds.h"

#include "common/log.h"
#include "scheduler/admin_snapshot.h"

namespace pst {

bool CheckpointRounds::Request(const CheckpointCall& call, const std::string& identity,
                               uint64_t request_id, proto::CheckpointResponse::Builder resp) {
  if (st_.state != proto::JobState::RUNNING) {
    SetRpcStatus(Status::FailedPrecondition("the job is not running (state " +
                                            std::string(AdminJobStateName(st_.state)) + ")"),
                 resp.initStatus());
    return false;
  }
  if (Status held = clients_.Hold(identity); !held.ok()) {
    SetRpcStatus(held, resp.initStatus());
    return false;
  }
  const auto timeout = call.timeout_ms ? std::chrono::milliseconds(call.timeout_ms)
                                       : core_.options.checkpoint_request_timeout;
  st_.checkpoint_waiters.push_back({identity, request_id, Clock::now() + timeout});
  st_.checkpoint_wanted = true;
  return true;
}

void CheckpointRounds::Answer(const CheckpointWaiter& w, const Status& s, const CompleteCheckpoint* done) {
  clients_.Release(w.identity);
  OutMessage out;
  out.envelope().setRequestId(w.request_id);
  auto resp = out.envelope().getBody().initCheckpointResponse();
  SetRpcStatus(s, resp.initStatus());
  if (done) {
    resp.setCheckpointId(done->id);
    resp.setClock(done->clock);
    resp.setDurationMs(done->duration_ms);
  }
  core_.SendTo(w.identity, out);  // the client may have given up
}

void CheckpointRounds::Abort(const std::string& why) {
  st_.coordinator.Abort();
  for (const CheckpointWaiter& w : st_.checkpoint_waiters) Answer(w, Status::Aborted(why), nullptr);
  st_.checkpoint_waiters.clear();
  st_.checkpoint_wanted = false;
}

void CheckpointRounds::ExpireWaiters(Clock::time_point now) {
  for (auto it = st_.checkpoint_waiters.begin(); it != st_.checkpoint_waiters.end();) {
    if (now < it->deadline && st_.state == proto::JobState::RUNNING) {
      ++it;
      continue;
    }
    Answer(*it,
           now >= it->deadline ? Status::DeadlineExceeded("no complete checkpoint in time; see the PS logs")
                               : Status::FailedPrecondition("the job stopped running"),
           nullptr);
    it = st_.checkpoint_waiters.erase(it);
  }
}

uint64_t CheckpointRounds::Fastest(std::optional<uint64_t>* memo) const {
  if (!*memo) *memo = core_.FastestClock();
  return **memo;
}

void CheckpointRounds::UpdatePace(Clock::time_point now, std::optional<uint64_t>* fastest) {
  const bool restart = st_.pace_at == Clock::time_point{} || st_.generation != pace_generation_;
  if (!restart && now - st_.pace_at < core_.options.pace_window) return;
  const uint64_t f = Fastest(fastest);
  if (restart || f < st_.pace_version) {
    st_.pace_at = now;
    st_.pace_version = f;
    pace_generation_ = st_.generation;
    return;
  }
  st_.clocks_per_second = (f - st_.pace_version) / std::chrono::duration<double>(now - st_.pace_at).count();
  st_.pace_at = now;
  st_.pace_version = f;
  st_.pace_known = true;
}

void CheckpointRounds::MaybeBegin(Clock::time_point now, std::optional<uint64_t>* fastest) {
  const CheckpointSpec& spec = core_.options.job.checkpoint;
  if (!st_.pool || !st_.pace_known) return;  // nothing trained yet, or no pace to place K by
  bool due_steps = false;
  if (spec.every_steps > 0) {
    const uint64_t due_at = st_.last_checkpoint_clock + spec.every_steps;
    // No node ever reported a clock that far: no walk needed to know.
    due_steps = std::max(st_.clock_bound, st_.resume_clock) >= due_at && Fastest(fastest) >= due_at;
  }
  const bool due_time =
      spec.every_seconds > 0 && now - st_.last_checkpoint_at >= std::chrono::seconds(spec.every_seconds);
  if (!(st_.checkpoint_wanted || due_steps || due_time)) return;
  // Rounds reach the PS with the pushed directive, within about a PS loop turn.
  st_.coordinator.SetPace(st_.clocks_per_second, core_.options.directive_latency);
  [[maybe_unused]] const uint64_t id = st_.coordinator.Begin(
      Fastest(fastest), now,
      CheckpointRoundWait(core_.options.checkpoint_wait, st_.coordinator.margin(), st_.clocks_per_second,
                          CheckpointShardBytes(core_.options.job)));
  st_.checkpoint_wanted = false;
  // The round's id is stored before any PS hears of it (the directive goes
  // out later in this loop turn): a scheduler restarted after a crash must
  // not hand the same id to a new round, or a PS that already wrote the old
  // round's checkpoint under it would report the new one done at once, with
  // values from another clock.
  core_.SaveState(/*sync=*/true);
  PST_LOG_DEBUG("checkpoint {} at clock {} requested (fastest {})", id, st_.coordinator.clock(), Fastest(fastest));
}

bool CheckpointRounds::Commit(const CompleteCheckpoint& c) {
  if (!st_.store) return true;
  CheckpointRecord r;
  r.id = c.id;
  r.clock = c.clock;
  r.generation = c.generation;
  r.num_shards = core_.options.job.num_servers;
  r.unix_ms = c.unix_ms;
  r.duration_ms = c.duration_ms;
  r.epoch = st_.pool ? st_.pool->epoch() : 0;
  Status s = st_.store->RecordCompleteCheckpoint(r);
  if (s.ok()) return true;
  PST_LOG_ERROR("checkpoint {} written by every PS but not recorded: {}", c.id, s.message());
  return false;
}

void CheckpointRounds::Tick(Clock::time_point now) {
  std::optional<uint64_t> fastest;
  UpdatePace(now, &fastest);
  if (!st_.coordinator.active()) return MaybeBegin(now, &fastest);
  std::vector<CheckpointCoordinator::ShardReport> reports;
  for (const NodeInfo& p : st_.servers)
    reports.push_back({!p.Gone() && p.generation == st_.generation, p.clock, p.checkpoint_written,
                       p.checkpoint_failed, p.checkpoint_error});
  const uint64_t id = st_.coordinator.id();
  const uint64_t clock = st_.coordinator.clock();
  const auto begun = st_.coordinator.started();
  std::string why;
  switch (st_.coordinator.Update(reports, now, st_.coordinator.wait(), &why)) {
    case CheckpointCoordinator::Outcome::kComplete: {
      CompleteCheckpoint c;
      c.id = id;
      c.clock = clock;
      c.generation = st_.generation;
      c.duration_ms = std::chrono::duration<double, std::milli>(now - begun).count();
      c.unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
      // The commit point: recorded durably before any PS is told to commit.
      if (!Commit(c)) {
        st_.checkpoint_wanted = !st_.checkpoint_waiters.empty();
        return;
      }
      st_.checkpoints.push_back(c);
      st_.last_checkpoint_clock = clock;
      st_.last_checkpoint_at = now;
      core_.SaveState(/*sync=*/true);
      PST_LOG_INFO("checkpoint {} complete at clock {} ({:.0f} ms)", id, clock, c.duration_ms);
      for (const CheckpointWaiter& w : st_.checkpoint_waiters) Answer(w, Status::OK(), &c);
      st_.checkpoint_waiters.clear();
      break;
    }
    case CheckpointCoordinator::Outcome::kFailed:
      PST_LOG_INFO("checkpoint {} at clock {} not taken: {}; trying again", id, clock, why);
      st_.checkpoint_wanted = !st_.checkpoint_waiters.empty();
      break;
    default:
      break;
  }
}

}  // namespace pst
