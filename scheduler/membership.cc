#include "scheduler/membership.h"

#include <algorithm>

#include "common/log.h"
#include "common/proto_convert.h"
#include "scheduler/endpoint_probe.h"
#include "scheduler/recovery.h"

namespace pst {

NodeInfo* Membership::PlaceServer(const RegisterCall& call, Status* s) {
  const SchedulerOptions& options = core_.options;
  const int32_t want_id = call.shard_id;
  NodeInfo* placed = nullptr;
  if (call.endpoint.empty()) {
    *s = Status::InvalidArgument("a PS must give the endpoint workers reach it at");
    return nullptr;
  }
  if (want_id >= static_cast<int32_t>(options.job.num_servers)) {
    *s = Status::InvalidArgument("shard id " + std::to_string(want_id) + " does not exist (the job has " +
                                 std::to_string(options.job.num_servers) + " PS shards)");
    return nullptr;
  }
  if (st_.state == proto::JobState::FORMING) {
    // Shard ids are fixed by their state directories; free ids go to PS
    // that did not ask for one.
    st_.servers.resize(options.job.num_servers);
    for (uint32_t k = 0; k < st_.servers.size() && !placed; ++k) {
      const bool free = st_.servers[k].identity.empty();
      if (free && (want_id < 0 || static_cast<uint32_t>(want_id) == k)) placed = &st_.servers[k];
    }
    if (!placed)
      *s = want_id >= 0 ? Status::AlreadyExists("shard " + std::to_string(want_id) + " already has a PS")
                        : Status::ResourceExhausted("the job already has all " +
                                                    std::to_string(options.job.num_servers) + " PS it needs");
    return placed;
  }
  // A replacement: for a shard whose PS is dead or gone, or for the shard it
  // names once the old PS is found gone (its operator, or a supervisor,
  // knows before the heartbeat timeout does).
  for (uint32_t k = 0; k < st_.servers.size() && !placed; ++k) {
    if (st_.servers[k].Gone() && (want_id < 0 || static_cast<uint32_t>(want_id) == k))
      placed = &st_.servers[k];
  }
  if (!placed && want_id >= 0) {
    // Two processes cannot listen at one address: if the new PS advertises
    // the old one's, the old one is gone.
    NodeInfo& old = st_.servers[want_id];
    *s = old.endpoint == call.endpoint ? Status::OK() : CheckReplaceable(old);
    if (s->ok()) placed = &st_.servers[want_id];
    return placed;
  }
  if (!placed) *s = Status::AlreadyExists("every shard has a live PS");
  return placed;
}

Status Membership::CheckReplaceable(NodeInfo& old) {
  const auto timeout = core_.options.replacement_probe_timeout;
  const Status probe = ProbeTcpEndpoint(old.endpoint, timeout);
  const std::string name = Describe(old);
  const auto age_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - old.last_seen).count();
  if (probe.code() == StatusCode::kUnavailable) {
    PST_LOG_WARN("{} does not answer at {} ({}): replaced by a new PS for shard {}", name, old.endpoint,
                 probe.message(), old.rank);
    old.state = proto::NodeState::DEAD;
    return Status::OK();
  }
  const std::string wait = "; stop it first, or wait until the scheduler declares it dead (no heartbeat for " +
                           std::to_string(core_.options.heartbeat_timeout.count()) + " ms)";
  Status refused =
      probe.ok() ? Status::FailedPrecondition("shard " + std::to_string(old.rank) + " has a live PS: " + name +
                                              " answers at " + old.endpoint + " (last heartbeat " +
                                              std::to_string(age_ms) + " ms ago)" + wait)
                 : Status::Unavailable("cannot tell whether the PS of shard " + std::to_string(old.rank) + ", " +
                                       name + ", is gone: " + probe.message() + wait);
  PST_LOG_WARN("refused a new PS for shard {}: {}", old.rank, refused.message());
  return refused;
}

void Membership::Register(const RegisterCall& call, const std::string& identity,
                          proto::RegisterResponse::Builder resp) {
  const SchedulerOptions& options = core_.options;
  const proto::Role role = call.role;
  Status s;
  NodeInfo* placed = nullptr;
  const bool forming = st_.state == proto::JobState::FORMING;
  if (role != proto::Role::SERVER && role != proto::Role::WORKER) {
    s = Status::InvalidArgument("only PS and workers register");
  } else if (st_.state == proto::JobState::DONE || st_.state == proto::JobState::FAILED) {
    s = Status::FailedPrecondition("the job has ended");
  } else if (role == proto::Role::SERVER) {
    placed = PlaceServer(call, &s);
    if (placed) {
      placed->rank = static_cast<uint32_t>(placed - st_.servers.data());
      placed->endpoint = call.endpoint;
    }
  } else if (forming && st_.workers.size() >= options.job.num_workers) {
    // Workers may join at any time; a running job waits for a new one from
    // a clock every PS accepts (see AdmitWorkers).
    s = Status::ResourceExhausted("the job already has all " + std::to_string(options.job.num_workers) +
                                  " workers it needs to start; start more once it runs");
  } else {
    st_.workers.emplace_back();
    placed = &st_.workers.back();
    placed->rank = static_cast<uint32_t>(st_.workers.size() - 1);
  }
  if (placed) {
    NodeInfo& n = *placed;
    const uint32_t rank = n.rank;
    const std::string endpoint = n.endpoint;
    n = NodeInfo{};
    n.role = role;
    n.rank = rank;
    n.endpoint = endpoint;
    n.identity = identity;
    n.host = call.host;
    n.pid = call.pid;
    n.last_seen = Clock::now();
    resp.setRank(n.rank);
    if (role == proto::Role::WORKER && !forming) {
      n.joining = true;
      // Where it would start now; set again when it asks for its first shard.
      n.from_clock = core_.FastestClock() + st_.coordinator.margin();
      PST_LOG_INFO("{} joined the running job; it enters the roster when it asks for data", Describe(n));
      joiners_.push_back(&n - st_.workers.data());
    } else if (role == proto::Role::SERVER && !forming) {
      PST_LOG_INFO("{} registered as the replacement for shard {}", Describe(n), n.rank);
      replacements_.push_back(n.rank);
    } else {
      PST_LOG_INFO("{} registered ({} of {} PS, {} of {} workers)", Describe(n), CountServers(),
                   options.job.num_servers, st_.workers.size(), options.job.num_workers);
    }
  }
  resp.setHeartbeatIntervalMs(HeartbeatInterval().count());
  SetRpcStatus(s, resp.initStatus());
}

size_t Membership::CountServers() const {
  size_t n = 0;
  for (const NodeInfo& p : st_.servers) n += p.identity.empty() ? 0 : 1;
  return n;
}

void Membership::TakeLatencies(const HeartbeatCall& call, NodeInfo& n) {
  for (const bool push : {false, true}) {
    const auto& h = push ? call.push_latency : call.pull_latency;
    if (!h) continue;  // none from an older worker
    if (h->ok()) {
      (push ? n.push_latency : n.pull_latency) = **h;
    } else if (!n.latency_warned) {
      n.latency_warned = true;
      PST_LOG_WARN("{}: ignoring its {} latency histogram: {}", Describe(n), push ? "push" : "pull",
                   h->status().message());
    }
  }
}

bool Membership::Heartbeat(const HeartbeatCall& call, proto::HeartbeatResponse::Builder resp) {
  NodeInfo* n = st_.Find(call.role, call.rank);
  const auto now = Clock::now();
  bool answer = true;
  if (!n || n->identity.empty()) {
    SetRpcStatus(Status::NotFound("unknown node"), resp.initStatus());
  } else {
    n->last_seen = now;
    if (n->state == proto::NodeState::SUSPECT) n->state = proto::NodeState::ALIVE;
    st_.ReportClock(*n, call.clock);
    if (n->rate_since == Clock::time_point{} || call.samples < n->rate_samples) {
      n->rate_since = now;
      n->rate_samples = call.samples;
    } else if (now - n->rate_since >= std::chrono::seconds(1)) {
      const double dt = std::chrono::duration<double>(now - n->rate_since).count();
      n->samples_per_second = double(call.samples - n->rate_samples) / dt;
      n->rate_since = now;
      n->rate_samples = call.samples;
    }
    n->samples = call.samples;
    n->loss_sum = call.loss_sum;
    n->steps = call.steps;
    n->max_staleness = call.max_staleness;
    n->refusals = call.refusals;
    // A node still in an older generation shows how far the job had got
    // before the rollback (after a scheduler restart, only the nodes know).
    if (call.generation < st_.generation && !st_.rollbacks.empty() && call.clock > st_.resume_clock &&
        n->role == proto::Role::WORKER) {
      RollbackRecord& r = st_.rollbacks.back();
      r.lost_clocks = std::max(r.lost_clocks, call.clock - st_.resume_clock);
    }
    n->generation = call.generation;
    n->reported = true;
    if (n->role == proto::Role::SERVER) {
      n->checkpoint_written = call.checkpoint_written;
      n->checkpoint_failed = call.checkpoint_failed;
      n->checkpoint_error = call.checkpoint_error;
      n->restore_error = call.restore_error;
      n->waits_for = call.waits_for;
      n->removed = call.removed;
      n->sparse_tables = call.sparse_tables;
      FillDirective(resp);
    } else {
      resp.setLeave(n->leave_requested);
      TakeLatencies(call, *n);
      answer = WorkerNeedsAnswer(call, *n, now);
    }
    SetRpcStatus(Status::OK(), resp.initStatus());
  }
  resp.setState(st_.state);
  resp.setGeneration(st_.generation);
  resp.setRestoreCheckpoint(st_.restore_checkpoint);
  resp.setResumeClock(st_.resume_clock);
  resp.setHeartbeatIntervalMs(HeartbeatInterval().count());
  return answer;
}

bool Membership::WorkerNeedsAnswer(const HeartbeatCall& call, NodeInfo& n, Clock::time_point now) {
  // Everything a worker's answer carries (see Heartbeat).
  uint64_t sig = (uint64_t{st_.generation} << 32) ^ static_cast<uint64_t>(st_.state);
  sig = sig * 1000003u ^ st_.restore_checkpoint;
  sig = sig * 1000003u ^ st_.resume_clock;
  sig = sig * 1000003u ^ (n.leave_requested ? 1 : 0);
  const bool news = st_.state != proto::JobState::RUNNING || call.generation != st_.generation ||
                    n.leave_requested || sig != n.answered_sig;
  if (!news && now - n.answered_at < core_.options.heartbeat_answer_interval) return false;
  n.answered_sig = sig;
  n.answered_at = now;
  return true;
}

Status Membership::Leave(const LeaveCall& call) {
  NodeInfo* n = st_.Find(call.role, call.rank);
  if (!n || n->identity.empty()) return Status::NotFound("unknown node");
  if (n->Gone()) return Status::OK();
  n->state = proto::NodeState::LEFT;
  PST_LOG_INFO("{} left", Describe(*n));
  if (n->role == proto::Role::WORKER) StopWaitingFor(*n);
  // A PS leaving a running job (SIGTERM) takes its shard along: like a
  // dead one, it is rolled back once a replacement restores the shard.
  if (n->role == proto::Role::SERVER &&
      (st_.state == proto::JobState::RUNNING || st_.state == proto::JobState::RECOVERING))
    servers_left_.push_back(n->rank);
  return Status::OK();
}

void Membership::StopWaitingFor(NodeInfo& n) {
  if (!n.in_roster) return;
  n.in_roster = false;
  n.removing = true;
  st_.roster_changed = true;
}

void Membership::Scale(const ScaleCall& call, proto::ScaleResponse::Builder resp) {
  const uint32_t want = call.workers;
  std::vector<NodeInfo*> live;
  for (NodeInfo& w : st_.workers)
    if (!w.Gone() && !w.leave_requested) live.push_back(&w);
  resp.setLiveWorkers(static_cast<uint32_t>(live.size()));
  if (want == 0 || want > 4096) {
    SetRpcStatus(Status::InvalidArgument("--workers must be in [1, 4096]"), resp.initStatus());
    return;
  }
  if (st_.state != proto::JobState::RUNNING && st_.state != proto::JobState::RECOVERING) {
    SetRpcStatus(Status::FailedPrecondition("the job is not running"), resp.initStatus());
    return;
  }
  st_.desired_workers = want;
  // Scaling down: the newest workers go first.
  for (size_t i = live.size(); i > want; --i) {
    live[i - 1]->leave_requested = true;
    PST_LOG_INFO("scaling down: asking {} to leave", Describe(*live[i - 1]));
  }
  PST_LOG_INFO("scale to {} workers (live: {})", want, live.size());
  resp.setDesiredWorkers(want);
  SetRpcStatus(Status::OK(), resp.initStatus());
}

bool Membership::Admitted(const NodeInfo& n) const {
  for (const NodeInfo& p : st_.servers) {
    if (p.Gone()) return false;
    auto it = p.waits_for.find(n.rank);
    if (p.generation != st_.generation || it == p.waits_for.end() || it->second != n.from_clock)
      return false;
  }
  return true;
}

Status Membership::SendJobStart(const NodeInfo& n) {
  OutMessage start;
  auto js = start.envelope().getBody().initJobStart();
  ToProto(core_.options.job, js.initJob());
  js.setNumWorkers(static_cast<uint32_t>(std::max<size_t>(1, st_.workers.size())));
  js.setGeneration(st_.generation);
  js.setRestoreCheckpoint(st_.restore_checkpoint);
  js.setResumeClock(n.role == proto::Role::WORKER ? n.from_clock : st_.resume_clock);
  FillServerList(st_, core_.ranges, js.initServers(st_.servers.size()));
  FillRoster(st_, js.initWorkers(CountRoster(st_)));
  if (core_.slot_map) {
    const std::vector<uint32_t>& shards = core_.slot_map->assignment();
    auto list = js.initSlotMap(static_cast<unsigned>(shards.size()));
    for (size_t s = 0; s < shards.size(); ++s) list.set(static_cast<unsigned>(s), shards[s]);
  }
  zmq::message_t id(n.identity.data(), n.identity.size());
  return SendMessage(core_.socket, start, &id);
}

void Membership::StartJobIfFormed(Clock::time_point now, uint64_t total_keys) {
  const SchedulerOptions& options = core_.options;
  if (CountServers() != options.job.num_servers || st_.workers.size() != options.job.num_workers) {
    if (now - st_.created > options.form_timeout)
      core_.Fail("only " + std::to_string(CountServers()) + " of " + std::to_string(options.job.num_servers) +
                 " PS and " + std::to_string(st_.workers.size()) + " of " +
                 std::to_string(options.job.num_workers) + " workers registered within " +
                 std::to_string(options.form_timeout.count()) + " ms");
    return;
  }
  for (NodeInfo& w : st_.workers) {
    w.in_roster = true;
    w.from_clock = st_.resume_clock;
    w.started = true;  // the PS get the roster with the job
  }
  st_.roster_changed = true;
  for (auto* list : {&st_.servers, &st_.workers}) {
    for (const NodeInfo& n : *list) {
      Status s = SendJobStart(n);
      if (!s.ok()) core_.Fail("could not send the job to " + Describe(n) + ": " + s.message());
    }
  }
  joiners_.clear();
  if (st_.state != proto::JobState::FORMING) return;
  st_.state = proto::JobState::RUNNING;
  st_.started = now;
  if (!st_.rollbacks.empty() && st_.rollbacks.back().end_ms == 0) st_.rollbacks.back().end_ms = st_.ElapsedMs();
  PST_LOG_INFO("all nodes registered; job started ({} parameters over {} PS{})", total_keys,
               options.job.num_servers, st_.generation ? ", generation " + std::to_string(st_.generation) : "");
  core_.SaveState(true);
}

void Membership::SendToNewcomers() {
  if (!servers_left_.empty()) {  // runs every tick: no walk unless needed
    bool workers_live = false;
    for (const NodeInfo& w : st_.workers) workers_live = workers_live || !w.Gone();
    for (uint32_t k : servers_left_)
      if (st_.state == proto::JobState::RUNNING)
        recovery_.Start("PS " + std::to_string(k) + " left", /*expected=*/!workers_live);
    servers_left_.clear();
  }
  // A replacement PS rolls the job back (unless a rollback is already under
  // way), then gets the job.
  for (uint32_t k : replacements_) {
    if (st_.state == proto::JobState::RUNNING) recovery_.Start("PS " + std::to_string(k) + " was replaced");
    Status s = SendJobStart(st_.servers[k]);
    if (!s.ok()) PST_LOG_WARN("could not send the job to PS {}: {}", k, s.message());
  }
  replacements_.clear();
  for (size_t w : joiners_) {
    Status s = SendJobStart(st_.workers[w]);
    if (!s.ok()) PST_LOG_WARN("could not send the job to worker {}: {}", w, s.message());
  }
  joiners_.clear();
}

std::chrono::milliseconds Membership::HeartbeatInterval() const {
  const SchedulerOptions& options = core_.options;
  if (options.max_heartbeats_per_second == 0) return options.heartbeat_interval;
  const uint64_t expected = uint64_t{options.job.num_servers} +
                            std::max<uint64_t>(options.job.num_workers, st_.desired_workers);
  const uint64_t nodes = std::max<uint64_t>(expected, live_nodes_);
  const auto wanted = std::chrono::milliseconds((nodes * 1000 + options.max_heartbeats_per_second - 1) /
                                                options.max_heartbeats_per_second);
  // Never so long that heartbeat_timeout would be fewer than four silences.
  const auto longest = std::max(options.heartbeat_interval, options.heartbeat_timeout / 4);
  return std::clamp(wanted, options.heartbeat_interval, longest);
}

bool Membership::SweepHeartbeats(Clock::time_point now) {
  const SchedulerOptions& options = core_.options;
  const auto interval = HeartbeatInterval();
  bool all_gone = true;
  size_t live = 0;
  for (auto* list : {&st_.servers, &st_.workers}) {
    for (NodeInfo& n : *list) {
      if (n.Gone() || n.identity.empty()) continue;
      all_gone = false;
      ++live;
      const auto age = now - n.last_seen;
      if (age <= options.heartbeat_timeout) {
        if (age > 3 * interval) n.state = proto::NodeState::SUSPECT;
        continue;
      }
      n.state = proto::NodeState::DEAD;
      PST_LOG_WARN("{} is dead: no heartbeat for {} ms", Describe(n),
                   std::chrono::duration_cast<std::chrono::milliseconds>(age).count());
      if (st_.state == proto::JobState::FORMING) {
        core_.Fail(Describe(n) + " stopped sending heartbeats before the job started; see its log");
      } else if (n.role == proto::Role::WORKER) {
        StopWaitingFor(n);
      } else if (st_.state == proto::JobState::RUNNING || st_.state == proto::JobState::RECOVERING) {
        recovery_.Start(Describe(n) + " died");
        PST_LOG_WARN("waiting up to {} s for a replacement: pstrain-ps --scheduler {} --shard-id {} "
                     "--state-dir <its state dir>",
                     options.recovery_timeout.count() / 1000, core_.endpoint, n.rank);
      }
    }
  }
  live_nodes_ = live;
  return all_gone;
}

void Membership::ProgressRemovals() {
  for (NodeInfo& w : st_.workers) {
    if (!w.removing) continue;
    uint64_t completed = UINT64_MAX;
    bool all = true;
    for (const NodeInfo& p : st_.servers) {
      auto it = p.removed.find(w.rank);
      if (p.Gone() || p.generation != st_.generation || it == p.removed.end() || p.waits_for.count(w.rank)) {
        all = false;
        break;
      }
      completed = std::min(completed, it->second);
    }
    if (!all) continue;
    w.removing = false;
    if (!st_.pool) continue;
    // Credit the finished batches to the epoch of the lease they belong to.
    uint32_t e = st_.pool->epoch();
    for (const ShardLease& l : st_.pool->OutstandingLeases())
      if (l.worker == w.rank) e = l.epoch;
    const uint64_t credited = st_.pool->ReturnWorker(w.rank, completed);
    e = std::min<uint32_t>(e, static_cast<uint32_t>(st_.epochs.size() - 1));
    st_.epochs[e].samples = st_.pool->DoneSamples(e);
    PST_LOG_INFO("worker {} completed {} clocks; the rest of its lease went back to the pool ({} samples credited)",
                 w.rank, completed, credited);
  }
}

void Membership::AdmitWorkers() {
  for (NodeInfo& w : st_.workers) {
    if (!w.in_roster || w.started || w.Gone()) continue;
    for (const NodeInfo& p : st_.servers) {
      if (p.generation != st_.generation) continue;
      auto it = p.waits_for.find(w.rank);
      const bool has = it != p.waits_for.end() && it->second == w.from_clock;
      if (!has && p.clock > w.from_clock) {
        // That PS is already past the clock: pick a later one.
        w.from_clock = core_.FastestClock() + st_.coordinator.margin();
        st_.roster_changed = true;
        PST_LOG_INFO("worker {} will start at clock {}", w.rank, w.from_clock);
        break;
      }
    }
  }
}

void Membership::UpdateDirectiveSeq(bool rehash_roster) {
  // directive_seq grows whenever any of it changes, so a PS can ignore an
  // older copy arriving late.
  auto mix = [](uint64_t& sig, uint64_t v) { sig = sig * 1000003u ^ v; };
  if (rehash_roster || st_.roster_changed) {
    roster_hash_ = 0;
    for (const NodeInfo& w : st_.workers) {
      if (!w.in_roster) continue;
      mix(roster_hash_, w.rank);
      mix(roster_hash_, w.from_clock);
    }
    st_.roster_changed = false;
  }
  uint64_t sig = (uint64_t{st_.generation} << 32) ^ static_cast<uint64_t>(st_.state);
  mix(sig, st_.restore_checkpoint);
  mix(sig, st_.resume_clock);
  mix(sig, st_.coordinator.id());
  mix(sig, st_.coordinator.clock());
  mix(sig, st_.checkpoints.empty() ? 0 : st_.checkpoints.back().id);
  mix(sig, roster_hash_);
  if (sig != st_.directive_sig) {
    st_.directive_sig = sig;
    ++st_.directive_seq;
  }
}

void Membership::FillDirective(proto::HeartbeatResponse::Builder resp) {
  UpdateDirectiveSeq(/*rehash_roster=*/true);
  FillRoster(st_, resp.initWorkers(CountRoster(st_)));
  resp.setState(st_.state);
  resp.setGeneration(st_.generation);
  resp.setRestoreCheckpoint(st_.restore_checkpoint);
  resp.setResumeClock(st_.resume_clock);
  resp.setCheckpointId(st_.coordinator.id());
  resp.setCheckpointClock(st_.coordinator.clock());
  resp.setCommittedCheckpoint(st_.checkpoints.empty() ? 0 : st_.checkpoints.back().id);
  resp.setDirectiveSeq(st_.directive_seq);
  resp.setHeartbeatIntervalMs(HeartbeatInterval().count());
  SetRpcStatus(Status::OK(), resp.initStatus());
}

void Membership::PushDirective(bool rehash_roster) {
  // Checked every tick: the message is built only when the directive changed.
  UpdateDirectiveSeq(rehash_roster);
  if (st_.directive_seq == pushed_seq_) return;
  pushed_seq_ = st_.directive_seq;
  for (const NodeInfo& p : st_.servers) {
    if (p.Gone() || p.identity.empty() || p.identity == "restored") continue;
    OutMessage copy;
    FillDirective(copy.envelope().getBody().initHeartbeatResponse());
    core_.SendTo(p.identity, copy);  // the heartbeat answers carry it too
  }
}

}  // namespace pst
