#include "scheduler/scheduler.h"

#include <unistd.h>

#include <cmath>
#include <map>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/bind.h"
#include "common/key_range.h"
#include "common/log.h"
#include "common/model_layout.h"
#include "common/proto_convert.h"
#include "scheduler/admin_server.h"
#include "scheduler/admin_snapshot.h"
#include "scheduler/checkpoint_coordinator.h"
#include "scheduler/job_store.h"
#include "scheduler/scheduler_state.h"
#include "scheduler/shard_pool.h"
#include "scheduler/state_json.h"

namespace pst {


namespace {

const char* RoleName(proto::Role r) {
  switch (r) {
    case proto::Role::SERVER: return "PS";
    case proto::Role::WORKER: return "worker";
    case proto::Role::SCHEDULER: return "scheduler";
    default: return "client";
  }
}

std::string Describe(const NodeInfo& n) {
  return std::string(RoleName(n.role)) + " " + std::to_string(n.rank) + " (pid " +
         std::to_string(n.pid) + " on " + n.host + ")";
}

}  // namespace

Scheduler::Scheduler(SchedulerOptions options, zmq::socket_t socket, std::string endpoint,
                     std::unique_ptr<AdminServer> admin)
    : options_(std::move(options)),
      socket_(std::move(socket)),
      endpoint_(std::move(endpoint)),
      admin_(std::move(admin)) {}

Scheduler::~Scheduler() = default;

const std::string& Scheduler::admin_url() const {
  static const std::string kNone;
  return admin_ ? admin_->url() : kNone;
}

StatusOr<std::unique_ptr<Scheduler>> Scheduler::Create(zmq::context_t& ctx,
                                                       const SchedulerOptions& options) {
  PST_RETURN_IF_ERROR(ValidateJobSpec(options.job));
  if (options.heartbeat_interval.count() <= 0 ||
      options.heartbeat_timeout <= options.heartbeat_interval)
    return Status::InvalidArgument(
        "heartbeat timeout must be longer than the heartbeat interval (both > 0)");
  if (options.admin_port > 65535 || options.admin_port < -1)
    return Status::InvalidArgument("admin port must be in [0, 65535], or -1 to disable it; got " +
                                   std::to_string(options.admin_port));
  PST_ASSIGN_OR_RETURN(BoundRouter bound, BindRouter(ctx, options.bind_host, options.port,
                                                     options.advertise_host, options.limits));
  std::unique_ptr<AdminServer> admin;
  if (options.admin_port >= 0) {
    // A wildcard bind is reached at the advertised host (or this host's name).
    std::string url_host;
    if (options.admin_bind == "0.0.0.0" || options.admin_bind == "::") {
      url_host = options.advertise_host;
      if (url_host.empty()) {
        char name[256] = {};
        url_host = gethostname(name, sizeof(name) - 1) == 0 ? name : "127.0.0.1";
      }
    }
    PST_ASSIGN_OR_RETURN(
        admin, AdminServer::Start(options.admin_bind, static_cast<uint16_t>(options.admin_port),
                                  url_host));
  }
  return std::unique_ptr<Scheduler>(
      new Scheduler(options, std::move(bound.socket), std::move(bound.endpoint), std::move(admin)));
}

namespace {

// What every PS should converge to: the generation and its restore point, the
// workers to wait for, the checkpoint round and the newest complete checkpoint.
// directive_seq grows whenever any of it changes, so a PS can ignore an older
// copy arriving late.
void FillDirective(SchedulerState& st, proto::HeartbeatResponse::Builder resp) {
  std::vector<const NodeInfo*> roster;
  for (const NodeInfo& w : st.workers)
    if (w.in_roster) roster.push_back(&w);
  uint64_t sig = (uint64_t{st.generation} << 32) ^ static_cast<uint64_t>(st.state);
  auto mix = [&sig](uint64_t v) { sig = sig * 1000003u ^ v; };
  mix(st.restore_checkpoint);
  mix(st.resume_clock);
  mix(st.coordinator.id());
  mix(st.coordinator.clock());
  mix(st.checkpoints.empty() ? 0 : st.checkpoints.back().id);
  for (const NodeInfo* w : roster) {
    mix(w->rank);
    mix(w->from_clock);
  }
  if (sig != st.directive_sig) {
    st.directive_sig = sig;
    ++st.directive_seq;
  }
  auto list = resp.initWorkers(roster.size());
  for (size_t i = 0; i < roster.size(); ++i) {
    list[i].setRank(roster[i]->rank);
    list[i].setFromClock(roster[i]->from_clock);
  }
  resp.setState(st.state);
  resp.setGeneration(st.generation);
  resp.setRestoreCheckpoint(st.restore_checkpoint);
  resp.setResumeClock(st.resume_clock);
  resp.setCheckpointId(st.coordinator.id());
  resp.setCheckpointClock(st.coordinator.clock());
  resp.setCommittedCheckpoint(st.checkpoints.empty() ? 0 : st.checkpoints.back().id);
  resp.setDirectiveSeq(st.directive_seq);
  SetRpcStatus(Status::OK(), resp.initStatus());
}

// One request handled against the scheduler's state; `out` is the reply.
class Handler {
 public:
  Handler(const SchedulerOptions& options, SchedulerState& st, zmq::socket_t& socket)
      : options_(options), st_(st), socket_(socket) {}

  void Handle(InMessage& in, OutMessage& out) {
    auto body = in.envelope().getBody();
    auto reply = out.envelope().getBody();
    switch (body.which()) {
      case proto::Envelope::Body::REGISTER_REQUEST:
        return Register(in, body.getRegisterRequest(), reply.initRegisterResponse());
      case proto::Envelope::Body::HEARTBEAT_REQUEST:
        return Heartbeat(body.getHeartbeatRequest(), reply.initHeartbeatResponse());
      case proto::Envelope::Body::SHARD_REQUEST:
        return Shard(body.getShardRequest(), reply.initShardResponse());
      case proto::Envelope::Body::EVAL_REPORT:
        return SetRpcStatus(Eval(body.getEvalReport()), reply.initAck());
      case proto::Envelope::Body::LEAVE_REQUEST:
        return SetRpcStatus(Leave(body.getLeaveRequest()), reply.initAck());
      case proto::Envelope::Body::JOB_STATUS_REQUEST:
        return JobStatus(reply.initJobStatusResponse());
      case proto::Envelope::Body::CHECKPOINT_REQUEST:
        return Checkpoint(in, body.getCheckpointRequest(), reply.initCheckpointResponse());
      case proto::Envelope::Body::SCALE_REQUEST:
        return Scale(body.getScaleRequest(), reply.initScaleResponse());
      default:
        return SetRpcStatus(Status::InvalidArgument("the scheduler does not handle this message"),
                            reply.initError());
    }
  }

  uint64_t NowMs() const { return st_.ElapsedMs(); }

  void Register(InMessage& in, proto::RegisterRequest::Reader req,
                proto::RegisterResponse::Builder resp) {
    const proto::Role role = req.getRole();
    Status s;
    NodeInfo* placed = nullptr;
    const bool forming = st_.state == proto::JobState::FORMING;
    if (role != proto::Role::SERVER && role != proto::Role::WORKER) {
      s = Status::InvalidArgument("only PS and workers register");
    } else if (st_.state == proto::JobState::DONE || st_.state == proto::JobState::FAILED) {
      s = Status::FailedPrecondition("the job has ended");
    } else if (role == proto::Role::SERVER) {
      const int32_t want_id = req.getShardId();
      if (req.getEndpoint().size() == 0) {
        s = Status::InvalidArgument("a PS must give the endpoint workers reach it at");
      } else if (want_id >= static_cast<int32_t>(options_.job.num_servers)) {
        s = Status::InvalidArgument("shard id " + std::to_string(want_id) + " does not exist (the job has " +
                                    std::to_string(options_.job.num_servers) + " PS shards)");
      } else if (forming) {
        // Shard ids are fixed by their state directories; free ids go to PS
        // that did not ask for one.
        st_.servers.resize(options_.job.num_servers);
        for (uint32_t k = 0; k < st_.servers.size() && !placed; ++k) {
          const bool free = st_.servers[k].identity.empty();
          if (free && (want_id < 0 || static_cast<uint32_t>(want_id) == k)) placed = &st_.servers[k];
        }
        if (!placed)
          s = want_id >= 0 ? Status::AlreadyExists("shard " + std::to_string(want_id) + " already has a PS")
                           : Status::ResourceExhausted("the job already has all " +
                                                       std::to_string(options_.job.num_servers) + " PS it needs");
      } else {
        // A replacement: for a shard whose PS is dead or gone, or for the
        // shard it names (its operator knows the old one is gone before the
        // heartbeat timeout does).
        for (uint32_t k = 0; k < st_.servers.size() && !placed; ++k) {
          if (st_.servers[k].Gone() && (want_id < 0 || static_cast<uint32_t>(want_id) == k))
            placed = &st_.servers[k];
        }
        if (!placed && want_id >= 0) {
          placed = &st_.servers[want_id];
          PST_LOG_WARN("{} is replaced by a new PS for shard {}", Describe(*placed), want_id);
        }
        if (!placed)
          s = Status::AlreadyExists(want_id >= 0 ? "shard " + std::to_string(want_id) + " has a live PS"
                                                 : std::string("every shard has a live PS"));
      }
      if (placed) {
        placed->rank = static_cast<uint32_t>(placed - st_.servers.data());
        placed->endpoint = req.getEndpoint().cStr();
      }
    } else {
      // Workers may join at any time; a running job waits for a new one from
      // a clock every PS accepts (see AdmitWorkers).
      if (forming && st_.workers.size() >= options_.job.num_workers) {
        s = Status::ResourceExhausted("the job already has all " + std::to_string(options_.job.num_workers) +
                                      " workers it needs to start; start more once it runs");
      } else {
        st_.workers.emplace_back();
        placed = &st_.workers.back();
        placed->rank = static_cast<uint32_t>(st_.workers.size() - 1);
      }
    }
    if (placed) {
      NodeInfo& n = *placed;
      const uint32_t rank = n.rank;
      const std::string endpoint = n.endpoint;
      n = NodeInfo{};
      n.role = role;
      n.rank = rank;
      n.endpoint = endpoint;
      n.identity.assign(static_cast<const char*>(in.identity().data()), in.identity().size());
      n.host = req.getHost().cStr();
      n.pid = req.getPid();
      n.last_seen = Clock::now();
      resp.setRank(n.rank);
      if (role == proto::Role::WORKER && !forming) {
        n.joining = true;
        // Where it would start now; set again when it asks for its first shard.
        n.from_clock = FastestClock() + st_.coordinator.margin();
        PST_LOG_INFO("{} joined the running job; it enters the roster when it asks for data",
                     Describe(n));
        joiners_.push_back(&n - st_.workers.data());
      } else if (role == proto::Role::SERVER && !forming) {
        PST_LOG_INFO("{} registered as the replacement for shard {}", Describe(n), n.rank);
        replacements_.push_back(n.rank);
      } else {
        PST_LOG_INFO("{} registered ({} of {} PS, {} of {} workers)", Describe(n), CountServers(),
                     options_.job.num_servers, st_.workers.size(), options_.job.num_workers);
      }
    }
    resp.setHeartbeatIntervalMs(options_.heartbeat_interval.count());
    SetRpcStatus(s, resp.initStatus());
  }

  size_t CountServers() const {
    size_t n = 0;
    for (const NodeInfo& p : st_.servers) n += p.identity.empty() ? 0 : 1;
    return n;
  }

  // The largest clock any node reported: PS versions and worker clocks.
  uint64_t FastestClock() const {
    uint64_t c = st_.resume_clock;
    for (const auto* list : {&st_.servers, &st_.workers})
      for (const NodeInfo& n : *list)
        if (!n.Gone() && n.generation == st_.generation) c = std::max(c, n.clock);
    return c;
  }

  // PS that left a running job; Scheduler::Run starts the rollback.
  std::vector<uint32_t> servers_left_;
  // Nodes that registered while the job runs; Scheduler::Run sends them the job.
  std::vector<size_t> joiners_;       // worker indices
  std::vector<uint32_t> replacements_;  // PS ranks

  void Heartbeat(proto::HeartbeatRequest::Reader req, proto::HeartbeatResponse::Builder resp) {
    NodeInfo* n = st_.Find(req.getRole(), req.getRank());
    if (!n || n->identity.empty()) {
      SetRpcStatus(Status::NotFound("unknown node"), resp.initStatus());
    } else {
      n->last_seen = Clock::now();
      if (n->state == proto::NodeState::SUSPECT) n->state = proto::NodeState::ALIVE;
      n->clock = req.getClock();
      const auto now = Clock::now();
      if (n->rate_since == Clock::time_point{} || req.getSamples() < n->rate_samples) {
        n->rate_since = now;
        n->rate_samples = req.getSamples();
      } else if (now - n->rate_since >= std::chrono::seconds(1)) {
        const double dt = std::chrono::duration<double>(now - n->rate_since).count();
        n->samples_per_second = double(req.getSamples() - n->rate_samples) / dt;
        n->rate_since = now;
        n->rate_samples = req.getSamples();
      }
      n->samples = req.getSamples();
      n->loss_sum = req.getLossSum();
      n->steps = req.getSteps();
      n->max_staleness = req.getMaxStaleness();
      // A node still in an older generation shows how far the job had got
      // before the rollback (after a scheduler restart, only the nodes know).
      if (req.getGeneration() < st_.generation && !st_.rollbacks.empty() &&
          req.getClock() > st_.resume_clock && n->role == proto::Role::WORKER) {
        RollbackRecord& r = st_.rollbacks.back();
        r.lost_clocks = std::max(r.lost_clocks, req.getClock() - st_.resume_clock);
      }
      n->generation = req.getGeneration();
      n->reported = true;
      if (n->role == proto::Role::SERVER) {
        n->checkpoint_written = req.getCheckpointWritten();
        n->checkpoint_failed = req.getCheckpointFailed();
        n->checkpoint_error = req.getCheckpointError().cStr();
        n->restore_error = req.getRestoreError().cStr();
        n->waits_for.clear();
        for (auto w : req.getWorkers()) n->waits_for[w.getRank()] = w.getFromClock();
        n->removed.clear();
        for (auto w : req.getRemoved()) n->removed[w.getRank()] = w.getCompletedClocks();
        FillDirective(st_, resp);
      } else {
        resp.setLeave(n->leave_requested);
        // Its cumulative latency histograms (none from an older worker). An
        // invalid one is ignored, and logged once per worker.
        for (const bool push : {false, true}) {
          StatusOr<LatencyHistogram> h = Status::InvalidArgument("absent");
          try {
            auto buckets = push ? req.getPushLatencyBuckets() : req.getPullLatencyBuckets();
            if (buckets.size() == 0) continue;
            h = LatencyHistogram::Decode(
                buckets, push ? req.getPushLatencySumSeconds() : req.getPullLatencySumSeconds());
          } catch (const kj::Exception& e) {
            h = Status::InvalidArgument(e.getDescription().cStr());
          }
          if (h.ok()) {
            (push ? n->push_latency : n->pull_latency) = *h;
          } else if (!n->latency_warned) {
            n->latency_warned = true;
            PST_LOG_WARN("{}: ignoring its {} latency histogram: {}", Describe(*n),
                         push ? "push" : "pull", h.status().message());
          }
        }
      }
      SetRpcStatus(Status::OK(), resp.initStatus());
    }
    resp.setState(st_.state);
    resp.setGeneration(st_.generation);
    resp.setRestoreCheckpoint(st_.restore_checkpoint);
    resp.setResumeClock(st_.resume_clock);
  }

  void Shard(proto::ShardRequest::Reader req, proto::ShardResponse::Builder resp) {
    Status s = ShardImpl(req, resp);
    SetRpcStatus(s, resp.initStatus());
  }

  void FillServers(capnp::List<proto::ServerInfo>::Builder list) {
    for (size_t i = 0; i < st_.servers.size(); ++i) {
      list[i].setRank(static_cast<uint32_t>(i));
      list[i].setEndpoint(st_.servers[i].endpoint);
      list[i].setKeyBegin(ranges_[i].begin);
      list[i].setKeyEnd(ranges_[i].end);
    }
  }

  Status ShardImpl(proto::ShardRequest::Reader req, proto::ShardResponse::Builder resp) {
    if (st_.state == proto::JobState::FORMING || st_.state == proto::JobState::FAILED)
      return Status::FailedPrecondition("the job is not running");
    if (st_.state == proto::JobState::DONE) {
      // Ended (possibly early, at the target accuracy): no more work for anyone.
      resp.setKind(proto::ShardReplyKind::DONE);
      return Status::OK();
    }
    NodeInfo* n = st_.Find(proto::Role::WORKER, req.getRank());
    if (!n) return Status::InvalidArgument("unknown worker rank " + std::to_string(req.getRank()));
    if (n->Gone())
      return Status::FailedPrecondition("worker " + std::to_string(req.getRank()) +
                                        " was declared dead or left; start a new worker instead");
    if (n->joining && st_.state == proto::JobState::RUNNING && !n->leave_requested) {
      // Ready to train: from now on the PS wait for it, from a clock ahead of
      // everyone's (it starts there once every PS has it on its roster).
      n->joining = false;
      n->in_roster = true;
      n->started = false;
      n->from_clock = FastestClock() + st_.coordinator.margin();
      PST_LOG_INFO("{} is ready; PS will wait for it from clock {}", Describe(*n), n->from_clock);
    }
    if (st_.state == proto::JobState::RECOVERING || !n->in_roster) {
      resp.setKind(proto::ShardReplyKind::WAIT);
      return Status::OK();
    }
    if (req.getGeneration() != st_.generation || !n->started) {
      // Where to continue: after a rollback, or for a new worker, once every
      // PS waits for it from its clock.
      if (!Admitted(*n)) {
        resp.setKind(proto::ShardReplyKind::WAIT);
        return Status::OK();
      }
      if (req.getGeneration() == st_.generation && req.getClock() == n->from_clock) {
        n->started = true;  // it follows; fall through to its first lease
      } else {
        resp.setKind(proto::ShardReplyKind::RESTART);
        resp.setGeneration(st_.generation);
        resp.setResumeClock(n->from_clock);
        FillServers(resp.initServers(st_.servers.size()));
        return Status::OK();
      }
    }
    // Shard requests tell the clock more often than heartbeats do (checkpoint
    // rounds are placed ahead of the fastest clock).
    n->clock = std::max(n->clock, req.getClock());
    const uint64_t num_samples = req.getNumSamples();
    if (!st_.pool) {
      if (num_samples == 0) return Status::InvalidArgument("the training set is empty");
      const TrainSpec& t = options_.job.train;
      st_.pool.emplace(num_samples, t.batch_size, t.batches_per_shard, t.epochs,
                       /*lockstep=*/t.consistency == Consistency::kBsp);
      st_.train_started = Clock::now();
      st_.epochs.resize(t.epochs);
      st_.epochs[0].start_ms = NowMs();
      PST_LOG_INFO("{} training samples, {} shards of {} batches per epoch", num_samples,
                   st_.pool->shards_per_epoch(), t.batches_per_shard);
    } else if (num_samples != st_.pool->num_samples()) {
      return Status::FailedPrecondition(
          "worker " + std::to_string(req.getRank()) + " has " + std::to_string(num_samples) +
          " training samples but others have " + std::to_string(st_.pool->num_samples()) +
          ": give every worker the same data");
    }
    if (req.getHasCompleted()) {
      const uint32_t e = req.getCompletedEpoch();
      if (e >= st_.epochs.size()) return Status::InvalidArgument("completed epoch out of range");
      // Counted once: a retried request or a lease from before a rollback is not.
      if (st_.pool->Complete(req.getRank(), e, req.getCompletedShard())) {
        st_.epochs[e].samples = st_.pool->DoneSamples(e);
        st_.epochs[e].loss_sum += req.getCompletedLossSum();
        st_.epochs[e].wait_ms += req.getCompletedWaitMs();
        st_.epochs[e].compute_ms += req.getCompletedComputeMs();
        st_.epochs[e].push_ms += req.getCompletedPushMs();
      }
    }
    if (req.getReportOnly() && st_.pool->lockstep())
      return Status::InvalidArgument("report-only shard requests are for ASP and SSP jobs");
    const ShardGrant g = req.getReportOnly() ? st_.pool->EvaluationOnly(req.getClock())
                                             : st_.pool->Next(req.getRank(), req.getClock());
    switch (g.kind) {
      case ShardGrant::Kind::kLease: resp.setKind(proto::ShardReplyKind::LEASE); break;
      case ShardGrant::Kind::kIdle: resp.setKind(proto::ShardReplyKind::IDLE); break;
      case ShardGrant::Kind::kDone: resp.setKind(proto::ShardReplyKind::DONE); break;
      case ShardGrant::Kind::kNone: resp.setKind(proto::ShardReplyKind::REPORTED); break;
    }
    resp.setEpoch(g.epoch);
    resp.setShard(g.shard);
    resp.setSampleBegin(g.sample_begin);
    resp.setSampleEnd(g.sample_end);
    resp.setIdleUntil(g.idle_until);
    resp.setEvaluate(g.evaluate);
    resp.setEvalEpoch(g.eval_epoch);
    resp.setEvalVersion(g.eval_version);
    // An epoch starts with its first lease (under ASP/SSP that is before the
    // previous epoch closes) and ends when it is closed.
    if (g.kind == ShardGrant::Kind::kLease && g.shard == 0 && !g.piece)
      st_.epochs[g.epoch].start_ms = NowMs();
    if (g.evaluate) {
      st_.epochs[g.eval_epoch].end_ms = NowMs();
      st_.evals_out[g.eval_epoch] = {req.getRank(), g.eval_version};
      // Without lockstep the evaluated model has no exact version: log the
      // clock of the worker whose report closed the epoch.
      PST_LOG_INFO("epoch {} closed at clock {}; worker {} evaluates it", g.eval_epoch + 1,
                   st_.pool->lockstep() ? g.eval_version : req.getClock(), req.getRank());
    } else {
      // An evaluation whose worker died is handed to the next worker that asks.
      for (auto& [epoch, order] : st_.evals_out) {
        NodeInfo* holder = st_.Find(proto::Role::WORKER, order.first);
        if (holder && !holder->Gone()) continue;
        resp.setEvaluate(true);
        resp.setEvalEpoch(epoch);
        resp.setEvalVersion(order.second);
        PST_LOG_INFO("worker {} evaluates epoch {} instead of worker {}, which is gone",
                     req.getRank(), epoch + 1, order.first);
        order.first = req.getRank();
        break;
      }
    }
    return Status::OK();
  }

  Status Eval(proto::EvalReport::Reader r) {
    if (r.getEpoch() >= st_.epochs.size()) return Status::InvalidArgument("eval epoch out of range");
    if (r.getTotal() == 0 || r.getCorrect() > r.getTotal())
      return Status::InvalidArgument("eval report counts are inconsistent");
    // After an early stop, evaluations of later epochs (still under way when
    // the job ended) are not part of the run.
    if (st_.state == proto::JobState::DONE) return Status::OK();
    st_.evals_out.erase(r.getEpoch());
    EpochRecord& e = st_.epochs[r.getEpoch()];
    e.evaluated = true;
    e.test_correct = r.getCorrect();
    e.test_total = r.getTotal();
    e.test_loss_sum = r.getLossSum();
    PST_LOG_INFO("epoch {} test accuracy {:.4f} ({} of {})", r.getEpoch() + 1,
                 double(r.getCorrect()) / r.getTotal(), r.getCorrect(), r.getTotal());
    const double accuracy = double(r.getCorrect()) / r.getTotal();
    const float target = options_.job.train.target_accuracy;
    if (st_.state == proto::JobState::RUNNING && target > 0 && accuracy >= target) {
      // Early stop: nodes see the state in their next heartbeat and leave.
      st_.state = proto::JobState::DONE;
      st_.ended = Clock::now();
      PST_LOG_INFO("target accuracy {:.4f} reached after epoch {} in {:.1f} s; stopping the job",
                   target, r.getEpoch() + 1, NowMs() / 1000.0);
    }
    if (r.getEpoch() + 1 == st_.epochs.size() && st_.pool && st_.pool->finished() &&
        st_.state == proto::JobState::RUNNING) {
      st_.state = proto::JobState::DONE;
      st_.ended = Clock::now();
      PST_LOG_INFO("job done in {:.1f} s", NowMs() / 1000.0);
    }
    return Status::OK();
  }

  Status Leave(proto::LeaveRequest::Reader r) {
    NodeInfo* n = st_.Find(r.getRole(), r.getRank());
    if (!n || n->identity.empty()) return Status::NotFound("unknown node");
    if (n->Gone()) return Status::OK();
    n->state = proto::NodeState::LEFT;
    PST_LOG_INFO("{} left", Describe(*n));
    if (n->role == proto::Role::WORKER) StopWaitingFor(*n);
    // A PS leaving a running job (SIGTERM) takes its shard along: like a
    // dead one, it is rolled back once a replacement restores the shard.
    if (n->role == proto::Role::SERVER && (st_.state == proto::JobState::RUNNING ||
                                           st_.state == proto::JobState::RECOVERING))
      servers_left_.push_back(n->rank);
    return Status::OK();
  }

  // The PS stop waiting for worker n; its lease goes back to the pool once
  // every PS has said how many clocks it completed (see Scheduler::Run).
  void StopWaitingFor(NodeInfo& n) {
    if (!n.in_roster) return;
    n.in_roster = false;
    n.removing = true;
  }

  void Checkpoint(InMessage& in, proto::CheckpointRequest::Reader r,
                  proto::CheckpointResponse::Builder resp) {
    if (st_.state != proto::JobState::RUNNING) {
      SetRpcStatus(Status::FailedPrecondition("the job is not running (state " +
                                              std::string(AdminJobStateName(st_.state)) + ")"),
                   resp.initStatus());
      return;
    }
    const uint64_t timeout_ms = r.getTimeoutMs() ? r.getTimeoutMs() : 60000;
    st_.checkpoint_waiters.push_back(
        {std::string(static_cast<const char*>(in.identity().data()), in.identity().size()),
         in.envelope().getRequestId(), Clock::now() + std::chrono::milliseconds(timeout_ms)});
    st_.checkpoint_wanted = true;
    deferred_ = true;  // answered when the round is decided
  }

  void Scale(proto::ScaleRequest::Reader r, proto::ScaleResponse::Builder resp) {
    const uint32_t want = r.getWorkers();
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

  bool deferred_ = false;  // the current request is answered later

  void JobStatus(proto::JobStatusResponse::Builder resp) {
    SetRpcStatus(Status::OK(), resp.initStatus());
    resp.setState(st_.state);
    resp.setMessage(st_.failure);
    resp.setTotalEpochs(options_.job.train.epochs);
    resp.setSamplesPerEpoch(st_.pool ? st_.pool->num_samples() : 0);
    resp.setElapsedMs(NowMs());
    resp.setAdminUrl(st_.admin_url);
    resp.setGeneration(st_.generation);
    resp.setDesiredWorkers(st_.desired_workers);
    auto cks = resp.initCheckpoints(st_.checkpoints.size());
    for (size_t i = 0; i < st_.checkpoints.size(); ++i) {
      const CompleteCheckpoint& c = st_.checkpoints[i];
      cks[i].setId(c.id);
      cks[i].setClock(c.clock);
      cks[i].setGeneration(c.generation);
      cks[i].setDurationMs(c.duration_ms);
      cks[i].setUnixMs(c.unix_ms);
    }
    auto rbs = resp.initRollbacks(st_.rollbacks.size());
    for (size_t i = 0; i < st_.rollbacks.size(); ++i) {
      const RollbackRecord& r = st_.rollbacks[i];
      rbs[i].setGeneration(r.generation);
      rbs[i].setCheckpointId(r.checkpoint_id);
      rbs[i].setClock(r.clock);
      rbs[i].setLostClocks(r.lost_clocks);
      rbs[i].setReason(r.reason);
      rbs[i].setStartMs(r.start_ms);
      rbs[i].setEndMs(r.end_ms);
    }
    auto epochs = resp.initEpochs(st_.epochs.size());
    for (size_t i = 0; i < st_.epochs.size(); ++i) {
      const EpochRecord& e = st_.epochs[i];
      auto b = epochs[i];
      b.setEpoch(static_cast<uint32_t>(i));
      b.setSamples(e.samples);
      b.setLossSum(e.loss_sum);
      b.setEvaluated(e.evaluated);
      b.setTestCorrect(e.test_correct);
      b.setTestTotal(e.test_total);
      b.setTestLossSum(e.test_loss_sum);
      b.setStartMs(e.start_ms);
      b.setEndMs(e.end_ms);
      b.setWaitMs(e.wait_ms);
      b.setComputeMs(e.compute_ms);
      b.setPushMs(e.push_ms);
    }
    size_t count = 0;
    for (const auto* list : {&st_.servers, &st_.workers})
      for (const NodeInfo& n : *list) count += n.identity.empty() ? 0 : 1;
    auto nodes = resp.initNodes(count);
    size_t i = 0;
    const auto now = Clock::now();
    for (const auto* list : {&st_.servers, &st_.workers}) {
      for (const NodeInfo& n : *list) {
        if (n.identity.empty()) continue;
        auto b = nodes[i++];
        b.setRole(n.role);
        b.setRank(n.rank);
        b.setEndpoint(n.endpoint);
        b.setHost(n.host);
        b.setPid(n.pid);
        b.setState(n.state);
        b.setClock(n.clock);
        b.setSamples(n.samples);
        b.setLossSum(n.loss_sum);
        b.setSteps(n.steps);
        b.setMaxStaleness(n.max_staleness);
        b.setSamplesPerSecond(n.samples_per_second);
        b.setLastHeartbeatAgeMs(
            std::chrono::duration_cast<std::chrono::milliseconds>(now - n.last_seen).count());
      }
    }
  }

  // True once every live PS waits for worker n from its from_clock.
  bool Admitted(const NodeInfo& n) const {
    for (const NodeInfo& p : st_.servers) {
      if (p.Gone()) return false;
      auto it = p.waits_for.find(n.rank);
      if (p.generation != st_.generation || it == p.waits_for.end() || it->second != n.from_clock)
        return false;
    }
    return true;
  }

 public:
  const SchedulerOptions& options_;
  SchedulerState& st_;
  zmq::socket_t& socket_;
  std::vector<KeyRange> ranges_;
};

}  // namespace

namespace {

// Adds a point to the live training curve if a second has passed and the
// workers trained something since the last point.
void SampleHistory(SchedulerState& st) {
  const auto now = Clock::now();
  if (!st.pool || now - st.history_at < std::chrono::seconds(1)) return;
  uint64_t samples = 0;
  double loss_sum = 0;
  for (const NodeInfo& n : st.workers) {
    samples += n.samples;
    loss_sum += n.loss_sum;
  }
  const double dt = std::chrono::duration<double>(now - st.history_at).count();
  const bool first = st.history_at == Clock::time_point{};
  if (!first && samples > st.history_samples) {
    const double ds = double(samples - st.history_samples);
    st.history.push_back({st.ElapsedMs() / 1000.0, (loss_sum - st.history_loss_sum) / ds, ds / dt});
    if (st.history.size() > SchedulerState::kMaxHistory) {
      size_t keep = 0;
      for (size_t i = 0; i < st.history.size(); i += 2) st.history[keep++] = st.history[i];
      st.history.resize(keep);
    }
  }
  if (first || samples != st.history_samples) {
    st.history_samples = samples;
    st.history_loss_sum = loss_sum;
  }
  st.history_at = now;
}

// Something a dashboard should show at once: the job state, membership,
// node states or a finished evaluation changed.
uint64_t Signature(const SchedulerState& st) {
  uint64_t sig = static_cast<uint64_t>(st.state);
  for (const auto* list : {&st.servers, &st.workers})
    for (const NodeInfo& n : *list) sig = sig * 31 + static_cast<uint64_t>(n.state) + 1;
  for (const EpochRecord& e : st.epochs) sig = sig * 31 + (e.evaluated ? 2 : 1);
  return sig;
}

}  // namespace

void Scheduler::PublishSnapshot() {
  if (!admin_ || !state_) return;
  const SchedulerState& st = *state_;
  const auto now = Clock::now();
  AdminSnapshot s;
  s.job_state = AdminJobStateName(st.state);
  s.failure = st.failure;
  s.scheduler_endpoint = endpoint_;
  s.admin_url = admin_->url();
  s.expected_servers = options_.job.num_servers;
  s.expected_workers = options_.job.num_workers;
  for (uint32_t l : options_.job.model.layer_sizes)
    s.model += (s.model.empty() ? "" : "-") + std::to_string(l);
  s.optimizer = OptimizerKindName(options_.job.optimizer.kind);
  s.consistency = ConsistencyName(options_.job.train.consistency);
  s.total_epochs = options_.job.train.epochs;
  s.samples_per_epoch = st.pool ? st.pool->num_samples() : 0;
  s.elapsed_ms = st.ElapsedMs();
  s.uptime_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - st.created).count();
  for (const auto* list : {&st.servers, &st.workers}) {
    for (const NodeInfo& n : *list) {
      AdminNode a;
      a.role = AdminRoleName(n.role);
      a.rank = n.rank;
      a.endpoint = n.endpoint;
      a.host = n.host;
      a.pid = n.pid;
      a.state = AdminNodeStateName(n.state);
      a.clock = n.clock;
      a.samples = n.samples;
      a.loss_sum = n.loss_sum;
      a.steps = n.steps;
      const bool gone = n.state == proto::NodeState::DEAD || n.state == proto::NodeState::LEFT;
      a.samples_per_second = gone ? 0 : n.samples_per_second;
      a.heartbeat_age_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(now - n.last_seen).count();
      a.max_staleness = n.max_staleness;
      a.pull_latency = n.pull_latency;
      a.push_latency = n.push_latency;
      s.nodes.push_back(std::move(a));
    }
  }
  for (size_t i = 0; i < st.epochs.size(); ++i) {
    const EpochRecord& e = st.epochs[i];
    AdminEpoch a;
    a.epoch = static_cast<uint32_t>(i + 1);
    a.samples = e.samples;
    a.train_loss = e.samples ? e.loss_sum / double(e.samples) : 0;
    a.evaluated = e.evaluated;
    a.test_correct = e.test_correct;
    a.test_total = e.test_total;
    a.test_accuracy = e.test_total ? double(e.test_correct) / double(e.test_total) : 0;
    a.test_loss = e.test_total ? e.test_loss_sum / double(e.test_total) : 0;
    a.start_ms = e.start_ms;
    a.end_ms = e.end_ms;
    a.wait_ms = e.wait_ms;
    a.compute_ms = e.compute_ms;
    a.push_ms = e.push_ms;
    s.epochs.push_back(a);
  }
  s.history = st.history;
  s.unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  s.generation = st.generation;
  s.desired_workers = st.desired_workers;
  s.checkpoints.reserve(st.checkpoints.size());
  for (const CompleteCheckpoint& c : st.checkpoints)
    s.checkpoints.push_back({c.id, c.clock, c.generation, c.duration_ms, c.unix_ms});
  s.rollbacks.reserve(st.rollbacks.size());
  for (const RollbackRecord& r : st.rollbacks)
    s.rollbacks.push_back(
        {r.generation, r.checkpoint_id, r.clock, r.lost_clocks, r.reason, r.start_ms, r.end_ms});
  admin_->Publish(std::move(s));
}

namespace {

// Sends the job to node n: the spec, the servers, where training starts and
// (for a PS) which workers to wait for.
Status SendJobStart(zmq::socket_t& socket, const SchedulerOptions& options,
                    const SchedulerState& st, const std::vector<KeyRange>& ranges,
                    const NodeInfo& n) {
  OutMessage start;
  auto js = start.envelope().getBody().initJobStart();
  ToProto(options.job, js.initJob());
  js.setNumWorkers(static_cast<uint32_t>(std::max<size_t>(1, st.workers.size())));
  js.setGeneration(st.generation);
  js.setRestoreCheckpoint(st.restore_checkpoint);
  js.setResumeClock(n.role == proto::Role::WORKER ? n.from_clock : st.resume_clock);
  auto servers = js.initServers(st.servers.size());
  for (size_t i = 0; i < st.servers.size(); ++i) {
    servers[i].setRank(static_cast<uint32_t>(i));
    servers[i].setEndpoint(st.servers[i].endpoint);
    servers[i].setKeyBegin(ranges[i].begin);
    servers[i].setKeyEnd(ranges[i].end);
  }
  std::vector<const NodeInfo*> roster;
  for (const NodeInfo& w : st.workers)
    if (w.in_roster) roster.push_back(&w);
  auto list = js.initWorkers(roster.size());
  for (size_t i = 0; i < roster.size(); ++i) {
    list[i].setRank(roster[i]->rank);
    list[i].setFromClock(roster[i]->from_clock);
  }
  zmq::message_t id(n.identity.data(), n.identity.size());
  return SendMessage(socket, start, &id);
}

void AnswerCheckpointWaiter(zmq::socket_t& socket, const CheckpointWaiter& w, const Status& s,
                            const CompleteCheckpoint* done) {
  OutMessage out;
  out.envelope().setRequestId(w.request_id);
  auto resp = out.envelope().getBody().initCheckpointResponse();
  SetRpcStatus(s, resp.initStatus());
  if (done) {
    resp.setCheckpointId(done->id);
    resp.setClock(done->clock);
    resp.setDurationMs(done->duration_ms);
  }
  zmq::message_t id(w.identity.data(), w.identity.size());
  Status sent = SendMessage(socket, out, &id);
  sent.IgnoreError();  // the client may have given up
}

}  // namespace

uint64_t Scheduler::FastestClock() const {
  const SchedulerState& st = *state_;
  uint64_t c = st.resume_clock;
  // Under ASP/SSP a PS version counts updates, not clocks: only workers say.
  const bool servers = options_.job.train.consistency == Consistency::kBsp;
  for (const auto* list : {&st.servers, &st.workers})
    for (const NodeInfo& n : *list)
      if (!n.Gone() && !n.identity.empty() && n.generation == st.generation &&
          (servers || n.role == proto::Role::WORKER))
        c = std::max(c, n.clock);
  return c;
}

void Scheduler::StartRecovery(const std::string& reason) {
  SchedulerState& st = *state_;
  const uint64_t fastest = FastestClock();
  st.coordinator.Abort();
  for (const CheckpointWaiter& w : st.checkpoint_waiters)
    AnswerCheckpointWaiter(socket_, w, Status::Aborted("the job is rolling back: " + reason), nullptr);
  st.checkpoint_waiters.clear();
  st.checkpoint_wanted = false;
  ++st.generation;
  st.restore_checkpoint = st.checkpoints.empty() ? 0 : st.checkpoints.back().id;
  st.resume_clock = st.checkpoints.empty() ? 0 : st.checkpoints.back().clock;
  const uint64_t k = st.resume_clock;
  st.evals_out.clear();  // epochs the rollback reopens are closed and evaluated again
  if (st.pool) {
    st.pool->Rollback(k);
    for (uint32_t e = 0; e < st.epochs.size(); ++e) st.epochs[e].samples = st.pool->DoneSamples(e);
    // Epochs the pool reopened will close (and be evaluated) again.
    for (uint32_t e = st.pool->epoch(); e < st.epochs.size(); ++e) {
      st.epochs[e].evaluated = false;
      st.epochs[e].end_ms = 0;
    }
  }
  for (NodeInfo& w : st.workers) {
    if (w.Gone()) {
      // Everything it did after K is undone with the rollback.
      if ((w.in_roster || w.removing) && st.pool) st.pool->ReturnWorker(w.rank, k);
      w.in_roster = false;
    } else {
      w.in_roster = !w.leave_requested;
      if (w.leave_requested && st.pool) st.pool->ReturnWorker(w.rank, k);
    }
    w.removing = false;
    w.joining = false;  // in the roster (if live) from K, with everyone
    w.from_clock = k;
    w.started = false;
  }
  RollbackRecord r;
  r.generation = st.generation;
  r.checkpoint_id = st.restore_checkpoint;
  r.clock = k;
  r.lost_clocks = fastest > k ? fastest - k : 0;
  r.reason = reason;
  r.start_ms = st.ElapsedMs();
  st.rollbacks.push_back(r);
  st.state = proto::JobState::RECOVERING;
  st.recovering_since = Clock::now();
  PST_LOG_WARN("{}: rolling back to {} (clock {}, {} clocks to redo); generation {}", reason,
               st.restore_checkpoint ? "checkpoint " + std::to_string(st.restore_checkpoint)
                                     : std::string("the initial model"),
               k, r.lost_clocks, st.generation);
  SaveState(/*sync=*/true);
}

void Scheduler::SaveState(bool sync) {
  SchedulerState& st = *state_;
  st.saved_at = Clock::now();
  if (!st.store) return;
  Status s = st.store->SaveState(StateToJson(st, endpoint_).dump(), sync);
  if (!s.ok()) PST_LOG_ERROR("cannot save the job state: {}", s.message());
}

Status Scheduler::OpenStore() {
  SchedulerState& st = *state_;
  if (options_.state_dir.empty()) return Status::OK();
  JobStoreOptions so;
  so.path = options_.state_dir;
  PST_ASSIGN_OR_RETURN(st.store, JobStore::Create(so));
  auto job = st.store->LoadJob();
  if (job.status().code() == StatusCode::kNotFound) {
    // A new job.
    PST_RETURN_IF_ERROR(st.store->SaveJob(options_.job));
    return Status::OK();
  }
  if (!job.ok()) return job.status().WithContext("reading the job from " + options_.state_dir);
  if (!(*job == options_.job))
    PST_LOG_WARN("the job in {} differs from the one given; continuing the stored job",
                 options_.state_dir);
  options_.job = *job;
  PST_ASSIGN_OR_RETURN(std::string text, st.store->LoadState());
  auto parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded())
    return Status::DataLoss("the job state in " + options_.state_dir + " is not valid JSON");
  PST_RETURN_IF_ERROR(StateFromJson(parsed, options_.job, &st));
  PST_ASSIGN_OR_RETURN(auto records, st.store->ListCompleteCheckpoints());
  st.checkpoints.clear();
  for (const CheckpointRecord& r : records)
    st.checkpoints.push_back({r.id, r.clock, r.generation, r.duration_ms, r.unix_ms});
  if (!st.checkpoints.empty()) {
    st.coordinator = CheckpointCoordinator(std::max(st.coordinator.last_id(), st.checkpoints.back().id));
    st.last_checkpoint_clock = st.checkpoints.back().clock;
  }
  if (options_.resume) {
    // Every process stopped: new PS and workers register; old members are gone.
    for (NodeInfo& w : st.workers) w.state = proto::NodeState::LEFT;
    const std::string why = "resuming the job";
    StartRecovery(why);
    st.servers.clear();
    st.workers.clear();
    st.state = proto::JobState::FORMING;
    st.created = Clock::now();
    PST_LOG_INFO("resuming the job from {} at clock {}",
                 st.restore_checkpoint ? "checkpoint " + std::to_string(st.restore_checkpoint)
                                       : std::string("the start"),
                 st.resume_clock);
  } else {
    // Took over from a scheduler that crashed: the same nodes reconnect.
    for (auto* list : {&st.servers, &st.workers})
      for (NodeInfo& n : *list) n.last_seen = Clock::now();
    st.started = Clock::now();
    StartRecovery("the scheduler restarted");
  }
  return Status::OK();
}

Status Scheduler::Run() {
  state_ = std::make_unique<SchedulerState>();
  SchedulerState& st = *state_;
  st.admin_url = admin_url();
  PST_RETURN_IF_ERROR(OpenStore());
  st.desired_workers = st.desired_workers ? st.desired_workers : options_.job.num_workers;
  if (!st.admin_url.empty())
    PST_LOG_INFO("admin endpoint (dashboard, /status, /metrics) at {}", st.admin_url);
  auto published_at = Clock::now();
  uint64_t published_sig = Signature(st);
  PublishSnapshot();
  PST_ASSIGN_OR_RETURN(ModelLayout layout, ModelLayout::FromSpec(options_.job.model));
  Handler handler(options_, st, socket_);
  handler.ranges_ = PartitionKeys(layout.total(), options_.job.num_servers);
  if (st.state == proto::JobState::FORMING)
    PST_LOG_INFO("scheduler listening at {}; waiting for {} PS and {} workers", endpoint_,
                 options_.job.num_servers, options_.job.num_workers);

  auto fail = [&](std::string why) {
    if (st.state == proto::JobState::FAILED || st.state == proto::JobState::DONE) return;
    PST_LOG_ERROR("job failed: {}", why);
    st.failure = std::move(why);
    st.state = proto::JobState::FAILED;
    st.ended = Clock::now();
  };

  uint64_t pushed_seq = 0;
  while (!stop_) {
    PST_RETURN_IF_ERROR(WaitReadable(socket_, std::chrono::milliseconds(20)));
    for (int budget = 0; budget < 4096; ++budget) {
      InMessage in;
      Status s = RecvMessage(socket_, /*routed=*/true, options_.limits, &in);
      if (s.code() == StatusCode::kUnavailable) break;
      OutMessage out;
      handler.deferred_ = false;
      if (!s.ok()) {
        PST_LOG_WARN("malformed message: {}", s.message());
        SetRpcStatus(s, out.envelope().getBody().initError());
      } else {
        out.envelope().setRequestId(in.envelope().getRequestId());
        try {
          handler.Handle(in, out);
        } catch (const kj::Exception& e) {
          OutMessage err;
          err.envelope().setRequestId(in.envelope().getRequestId());
          SetRpcStatus(Status::InvalidArgument(std::string("malformed request: ") +
                                               e.getDescription().cStr()),
                       err.envelope().getBody().initError());
          Status sent = SendMessage(socket_, err, &in.identity());
          sent.IgnoreError();  // the peer may be gone; nothing to undo
          continue;
        }
      }
      if (in.identity().size() == 0 || handler.deferred_) continue;
      Status sent = SendMessage(socket_, out, &in.identity());
      sent.IgnoreError();  // the peer may be gone; nothing to undo
    }

    const auto now = Clock::now();
    if (st.state == proto::JobState::FORMING) {
      if (handler.CountServers() == options_.job.num_servers &&
          st.workers.size() == options_.job.num_workers) {
        for (NodeInfo& w : st.workers) {
          w.in_roster = true;
          w.from_clock = st.resume_clock;
          w.started = true;  // the PS get the roster with the job
        }
        for (auto* list : {&st.servers, &st.workers}) {
          for (const NodeInfo& n : *list) {
            Status s = SendJobStart(socket_, options_, st, handler.ranges_, n);
            if (!s.ok()) fail("could not send the job to " + Describe(n) + ": " + s.message());
          }
        }
        handler.joiners_.clear();
        if (st.state == proto::JobState::FORMING) {
          st.state = proto::JobState::RUNNING;
          st.started = now;
          if (!st.rollbacks.empty() && st.rollbacks.back().end_ms == 0)
            st.rollbacks.back().end_ms = st.ElapsedMs();
          PST_LOG_INFO("all nodes registered; job started ({} parameters over {} PS{})",
                       layout.total(), options_.job.num_servers,
                       st.generation ? ", generation " + std::to_string(st.generation) : "");
          SaveState(true);
        }
      } else if (now - st.created > options_.form_timeout) {
        fail("only " + std::to_string(handler.CountServers()) + " of " +
             std::to_string(options_.job.num_servers) + " PS and " +
             std::to_string(st.workers.size()) + " of " +
             std::to_string(options_.job.num_workers) + " workers registered within " +
             std::to_string(options_.form_timeout.count()) + " ms");
      }
    }

    for (uint32_t k : handler.servers_left_)
      if (st.state == proto::JobState::RUNNING) StartRecovery("PS " + std::to_string(k) + " left");
    handler.servers_left_.clear();
    // Nodes that joined the running job: a replacement PS rolls the job back
    // (unless a rollback is already under way), then gets the job.
    for (uint32_t k : handler.replacements_) {
      if (st.state == proto::JobState::RUNNING)
        StartRecovery("PS " + std::to_string(k) + " was replaced");
      Status s = SendJobStart(socket_, options_, st, handler.ranges_, st.servers[k]);
      if (!s.ok()) PST_LOG_WARN("could not send the job to PS {}: {}", k, s.message());
    }
    handler.replacements_.clear();
    for (size_t w : handler.joiners_) {
      Status s = SendJobStart(socket_, options_, st, handler.ranges_, st.workers[w]);
      if (!s.ok()) PST_LOG_WARN("could not send the job to worker {}: {}", w, s.message());
    }
    handler.joiners_.clear();

    // Heartbeat bookkeeping: suspect after 3 missed beats, dead after the timeout.
    bool all_gone = true;
    for (auto* list : {&st.servers, &st.workers}) {
      for (NodeInfo& n : *list) {
        if (n.Gone() || n.identity.empty()) continue;
        all_gone = false;
        const auto age = now - n.last_seen;
        if (age > options_.heartbeat_timeout) {
          n.state = proto::NodeState::DEAD;
          PST_LOG_WARN("{} is dead: no heartbeat for {} ms", Describe(n),
                       std::chrono::duration_cast<std::chrono::milliseconds>(age).count());
          if (st.state == proto::JobState::FORMING) {
            fail(Describe(n) + " stopped sending heartbeats before the job started; see its log");
          } else if (n.role == proto::Role::WORKER) {
            handler.StopWaitingFor(n);
          } else if (st.state == proto::JobState::RUNNING || st.state == proto::JobState::RECOVERING) {
            StartRecovery(Describe(n) + " died");
            PST_LOG_WARN("waiting up to {} s for a replacement: pstrain-ps --scheduler {} --shard-id {} "
                         "--state-dir <its state dir>",
                         options_.recovery_timeout.count() / 1000, endpoint_, n.rank);
          }
        } else if (age > 3 * options_.heartbeat_interval) {
          n.state = proto::NodeState::SUSPECT;
        }
      }
    }
    if (st.state == proto::JobState::RECOVERING) {
      bool ready = true;
      for (const NodeInfo& p : st.servers) {
        if (!p.restore_error.empty() && p.generation < st.generation && !p.Gone() && p.reported) {
          fail("PS " + std::to_string(p.rank) + " cannot restore checkpoint " +
               std::to_string(st.restore_checkpoint) + ": " + p.restore_error);
        }
        ready = ready && !p.Gone() && !p.identity.empty() && p.generation == st.generation;
      }
      if (st.state == proto::JobState::RECOVERING && ready) {
        st.state = proto::JobState::RUNNING;
        st.rollbacks.back().end_ms = st.ElapsedMs();
        st.last_checkpoint_at = now;
        PST_LOG_INFO("every PS restored generation {}; training continues at clock {}",
                     st.generation, st.resume_clock);
      } else if (now - st.recovering_since > options_.recovery_timeout) {
        std::string dead;
        for (const NodeInfo& p : st.servers)
          if (p.Gone() || p.identity.empty()) dead += (dead.empty() ? "" : ", ") + std::to_string(p.rank);
        fail("the job could not recover within " +
             std::to_string(options_.recovery_timeout.count() / 1000) + " s" +
             (dead.empty() ? "" : " (no live PS for shard " + dead +
                                      "; start one with pstrain-ps --shard-id K --state-dir DIR)"));
      }
    }
    if (st.state == proto::JobState::RUNNING) {
      ProgressRemovals();
      AdmitWorkers();
      CheckpointTick(now);
    }
    if (st.state == proto::JobState::RUNNING || st.state == proto::JobState::RECOVERING) {
      // A changed directive goes to every PS at once rather than with its
      // next heartbeat answer.
      OutMessage directive;
      FillDirective(st, directive.envelope().getBody().initHeartbeatResponse());
      if (st.directive_seq != pushed_seq) {
        pushed_seq = st.directive_seq;
        for (const NodeInfo& p : st.servers) {
          if (p.Gone() || p.identity.empty() || p.identity == "restored") continue;
          zmq::message_t id(p.identity.data(), p.identity.size());
          OutMessage copy;
          FillDirective(st, copy.envelope().getBody().initHeartbeatResponse());
          Status sent = SendMessage(socket_, copy, &id);
          sent.IgnoreError();  // the heartbeat answers carry it too
        }
      }
    }
    if (st.state == proto::JobState::RUNNING && now - st.saved_at > std::chrono::seconds(2))
      SaveState(/*sync=*/false);
    for (auto it = st.checkpoint_waiters.begin(); it != st.checkpoint_waiters.end();) {
      if (now < it->deadline && st.state == proto::JobState::RUNNING) {
        ++it;
        continue;
      }
      AnswerCheckpointWaiter(socket_, *it,
                             now >= it->deadline
                                 ? Status::DeadlineExceeded("no complete checkpoint in time; see the PS logs")
                                 : Status::FailedPrecondition("the job stopped running"),
                             nullptr);
      it = st.checkpoint_waiters.erase(it);
    }
    if (admin_) {
      SampleHistory(st);
      const uint64_t sig = Signature(st);
      if (sig != published_sig || now - published_at >= std::chrono::milliseconds(200)) {
        PublishSnapshot();
        published_sig = sig;
        published_at = now;
      }
    }
    if (st.state == proto::JobState::DONE || st.state == proto::JobState::FAILED) {
      // Stay a little after the last node left so clients can read the final status.
      const auto since_end = now - st.ended;
      if ((all_gone && since_end > std::chrono::milliseconds(1500)) || since_end > options_.linger)
        break;
    }
  }
  SaveState(/*sync=*/true);
  PublishSnapshot();
  if (stop_) return Status::Cancelled("scheduler stopped by signal");
  if (st.state == proto::JobState::FAILED) return Status::Aborted("job failed: " + st.failure);
  return Status::OK();
}

void Scheduler::ProgressRemovals() {
  SchedulerState& st = *state_;
  for (NodeInfo& w : st.workers) {
    if (!w.removing) continue;
    uint64_t completed = UINT64_MAX;
    bool all = true;
    for (const NodeInfo& p : st.servers) {
      auto it = p.removed.find(w.rank);
      if (p.Gone() || p.generation != st.generation || it == p.removed.end() || p.waits_for.count(w.rank)) {
        all = false;
        break;
      }
      completed = std::min(completed, it->second);
    }
    if (!all) continue;
    w.removing = false;
    if (!st.pool) continue;
    // Credit the finished batches to the epoch of the lease they belong to.
    uint32_t e = st.pool->epoch();
    for (const ShardLease& l : st.pool->OutstandingLeases())
      if (l.worker == w.rank) e = l.epoch;
    const uint64_t credited = st.pool->ReturnWorker(w.rank, completed);
    e = std::min<uint32_t>(e, static_cast<uint32_t>(st.epochs.size() - 1));
    st.epochs[e].samples = st.pool->DoneSamples(e);
    PST_LOG_INFO("worker {} completed {} clocks; the rest of its lease went back to the pool ({} samples credited)",
                 w.rank, completed, credited);
  }
}

void Scheduler::AdmitWorkers() {
  SchedulerState& st = *state_;
  for (NodeInfo& w : st.workers) {
    if (!w.in_roster || w.started || w.Gone()) continue;
    for (const NodeInfo& p : st.servers) {
      if (p.generation != st.generation) continue;
      auto it = p.waits_for.find(w.rank);
      const bool has = it != p.waits_for.end() && it->second == w.from_clock;
      if (!has && p.clock > w.from_clock) {
        // That PS is already past the clock: pick a later one.
        w.from_clock = FastestClock() + st.coordinator.margin();
        PST_LOG_INFO("worker {} will start at clock {}", w.rank, w.from_clock);
        break;
      }
    }
  }
}

void Scheduler::CheckpointTick(Clock::time_point now) {
  SchedulerState& st = *state_;
  const CheckpointSpec& spec = options_.job.checkpoint;
  const uint64_t fastest = FastestClock();
  if (st.pace_at == Clock::time_point{} || fastest < st.pace_version) {
    st.pace_at = now;
    st.pace_version = fastest;
  } else if (now - st.pace_at >= std::chrono::milliseconds(250)) {
    st.clocks_per_second = (fastest - st.pace_version) /
                           std::chrono::duration<double>(now - st.pace_at).count();
    st.pace_at = now;
    st.pace_version = fastest;
    st.pace_known = true;
  }
  if (!st.coordinator.active()) {
    if (!st.pool || !st.pace_known) return;  // nothing trained yet, or no pace to place K by
    const bool due_steps = spec.every_steps > 0 && fastest >= st.last_checkpoint_clock + spec.every_steps;
    const bool due_time = spec.every_seconds > 0 &&
                          now - st.last_checkpoint_at >= std::chrono::seconds(spec.every_seconds);
    if (!(st.checkpoint_wanted || due_steps || due_time)) return;
    // Rounds reach the PS with the pushed directive, within about a PS loop turn.
    st.coordinator.SetPace(st.clocks_per_second, std::chrono::milliseconds(30));
    [[maybe_unused]] const uint64_t id = st.coordinator.Begin(
        fastest, now,
        CheckpointRoundWait(options_.checkpoint_wait, st.coordinator.margin(),
                            st.clocks_per_second, CheckpointShardBytes(options_.job)));
    st.checkpoint_wanted = false;
    // The round's id is stored before any PS hears of it (the directive goes
    // out later in this loop turn): a scheduler restarted after a crash must
    // not hand the same id to a new round, or a PS that already wrote the
    // old round's checkpoint under it would report the new one done at once,
    // with values from another clock.
    SaveState(/*sync=*/true);
    PST_LOG_DEBUG("checkpoint {} at clock {} requested (fastest {})", id, st.coordinator.clock(), fastest);
    return;
  }
  std::vector<CheckpointCoordinator::ShardReport> reports;
  for (const NodeInfo& p : st.servers)
    reports.push_back({!p.Gone() && p.generation == st.generation, p.clock,
                       p.checkpoint_written, p.checkpoint_failed, p.checkpoint_error});
  const uint64_t id = st.coordinator.id();
  const uint64_t clock = st.coordinator.clock();
  const auto begun = st.coordinator.started();
  std::string why;
  switch (st.coordinator.Update(reports, now, st.coordinator.wait(), &why)) {
    case CheckpointCoordinator::Outcome::kComplete: {
      CompleteCheckpoint c;
      c.id = id;
      c.clock = clock;
      c.generation = st.generation;
      c.duration_ms = std::chrono::duration<double, std::milli>(now - begun).count();
      c.unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
      // The commit point: recorded durably before any PS is told to commit.
      if (st.store) {
        CheckpointRecord r;
        r.id = c.id;
        r.clock = c.clock;
        r.generation = c.generation;
        r.num_shards = options_.job.num_servers;
        r.unix_ms = c.unix_ms;
        r.duration_ms = c.duration_ms;
        r.epoch = st.pool ? st.pool->epoch() : 0;
        Status s = st.store->RecordCompleteCheckpoint(r);
        if (!s.ok()) {
          PST_LOG_ERROR("checkpoint {} written by every PS but not recorded: {}", id, s.message());
          st.checkpoint_wanted = !st.checkpoint_waiters.empty();
          return;
        }
      }
      st.checkpoints.push_back(c);
      st.last_checkpoint_clock = clock;
      st.last_checkpoint_at = now;
      SaveState(/*sync=*/true);
      PST_LOG_INFO("checkpoint {} complete at clock {} ({:.0f} ms)", id, clock, c.duration_ms);
      for (const CheckpointWaiter& w : st.checkpoint_waiters)
        AnswerCheckpointWaiter(socket_, w, Status::OK(), &c);
      st.checkpoint_waiters.clear();
      break;
    }
    case CheckpointCoordinator::Outcome::kFailed:
      PST_LOG_INFO("checkpoint {} at clock {} not taken: {}; trying again", id, clock, why);
      st.checkpoint_wanted = !st.checkpoint_waiters.empty();
      break;
    default:
      break;
  }
}

}  // namespace pst
