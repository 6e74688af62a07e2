#include "scheduler/scheduler.h"

#include <unistd.h>

#include <cmath>
#include <optional>
#include <vector>

#include "common/bind.h"
#include "common/key_range.h"
#include "common/log.h"
#include "common/model_layout.h"
#include "common/proto_convert.h"
#include "scheduler/admin_server.h"
#include "scheduler/admin_snapshot.h"
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
  // Training speed, measured over windows of at least a second of heartbeats.
  double samples_per_second = 0;
  uint64_t rate_samples = 0;     // samples at the start of the current window
  Clock::time_point rate_since;  // start of the current window (epoch = none yet)
};

struct EpochRecord {
  uint64_t samples = 0;
  double loss_sum = 0;
  bool evaluated = false;
  uint64_t test_correct = 0;
  uint64_t test_total = 0;
  double test_loss_sum = 0;
  uint64_t start_ms = 0;
  uint64_t end_ms = 0;
  double wait_ms = 0;     // workers' time in the epoch's leases, by activity
  double compute_ms = 0;
  double push_ms = 0;
};

class SchedulerState {
 public:
  proto::JobState state = proto::JobState::FORMING;
  std::string failure;
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
    const auto until = state == proto::JobState::RUNNING ? Clock::now() : ended;
    return std::chrono::duration_cast<std::chrono::milliseconds>(until - train_started).count();
  }
  NodeInfo* Find(proto::Role role, uint32_t rank) {
    auto& v = role == proto::Role::SERVER ? servers : workers;
    return rank < v.size() ? &v[rank] : nullptr;
  }
};

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
      default:
        return SetRpcStatus(Status::InvalidArgument("the scheduler does not handle this message"),
                            reply.initError());
    }
  }

 private:
  uint64_t NowMs() const { return st_.ElapsedMs(); }

  void Register(InMessage& in, proto::RegisterRequest::Reader req,
                proto::RegisterResponse::Builder resp) {
    const proto::Role role = req.getRole();
    Status s;
    if (role != proto::Role::SERVER && role != proto::Role::WORKER) {
      s = Status::InvalidArgument("only PS and workers register");
    } else if (st_.state != proto::JobState::FORMING) {
      s = Status::FailedPrecondition(
          "the job is already running; joining a running job is not supported yet");
    } else {
      auto& list = role == proto::Role::SERVER ? st_.servers : st_.workers;
      const uint32_t want =
          role == proto::Role::SERVER ? options_.job.num_servers : options_.job.num_workers;
      if (role == proto::Role::SERVER && req.getEndpoint().size() == 0) {
        s = Status::InvalidArgument("a PS must give the endpoint workers reach it at");
      } else if (list.size() >= want) {
        s = Status::ResourceExhausted("the job already has all " + std::to_string(want) + " " +
                                      RoleName(role) + "s it needs");
      } else {
        NodeInfo n;
        n.role = role;
        n.rank = static_cast<uint32_t>(list.size());
        n.identity.assign(static_cast<const char*>(in.identity().data()), in.identity().size());
        n.endpoint = req.getEndpoint().cStr();
        n.host = req.getHost().cStr();
        n.pid = req.getPid();
        n.last_seen = Clock::now();
        list.push_back(n);
        resp.setRank(n.rank);
        PST_LOG_INFO("{} registered ({} of {} PS, {} of {} workers)", Describe(n),
                     st_.servers.size(), options_.job.num_servers, st_.workers.size(),
                     options_.job.num_workers);
      }
    }
    resp.setHeartbeatIntervalMs(options_.heartbeat_interval.count());
    SetRpcStatus(s, resp.initStatus());
  }

  void Heartbeat(proto::HeartbeatRequest::Reader req, proto::HeartbeatResponse::Builder resp) {
    NodeInfo* n = st_.Find(req.getRole(), req.getRank());
    if (!n) {
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
      SetRpcStatus(Status::OK(), resp.initStatus());
    }
    resp.setState(st_.state);
  }

  void Shard(proto::ShardRequest::Reader req, proto::ShardResponse::Builder resp) {
    Status s = ShardImpl(req, resp);
    SetRpcStatus(s, resp.initStatus());
  }

  Status ShardImpl(proto::ShardRequest::Reader req, proto::ShardResponse::Builder resp) {
    if (st_.state != proto::JobState::RUNNING && st_.state != proto::JobState::DONE)
      return Status::FailedPrecondition("the job is not running");
    if (st_.state == proto::JobState::DONE) {
      // Ended (possibly early, at the target accuracy): no more work for anyone.
      resp.setKind(proto::ShardReplyKind::DONE);
      return Status::OK();
    }
    NodeInfo* n = st_.Find(proto::Role::WORKER, req.getRank());
    if (!n) return Status::InvalidArgument("unknown worker rank " + std::to_string(req.getRank()));
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
      st_.epochs[e].samples += req.getCompletedSamples();
      st_.epochs[e].loss_sum += req.getCompletedLossSum();
      st_.epochs[e].wait_ms += req.getCompletedWaitMs();
      st_.epochs[e].compute_ms += req.getCompletedComputeMs();
      st_.epochs[e].push_ms += req.getCompletedPushMs();
      st_.pool->Complete(req.getRank(), e, req.getCompletedShard());
    }
    const ShardGrant g = st_.pool->Next(req.getRank(), req.getClock());
    switch (g.kind) {
      case ShardGrant::Kind::kLease: resp.setKind(proto::ShardReplyKind::LEASE); break;
      case ShardGrant::Kind::kIdle: resp.setKind(proto::ShardReplyKind::IDLE); break;
      case ShardGrant::Kind::kDone: resp.setKind(proto::ShardReplyKind::DONE); break;
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
    if (g.kind == ShardGrant::Kind::kLease && g.shard == 0) st_.epochs[g.epoch].start_ms = NowMs();
    if (g.evaluate) {
      st_.epochs[g.eval_epoch].end_ms = NowMs();
      PST_LOG_INFO("epoch {} closed at clock {}; worker {} evaluates it", g.eval_epoch + 1,
                   g.eval_version, req.getRank());
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
    if (!n) return Status::NotFound("unknown node");
    n->state = proto::NodeState::LEFT;
    PST_LOG_INFO("{} left", Describe(*n));
    return Status::OK();
  }

  void JobStatus(proto::JobStatusResponse::Builder resp) {
    SetRpcStatus(Status::OK(), resp.initStatus());
    resp.setState(st_.state);
    resp.setMessage(st_.failure);
    resp.setTotalEpochs(options_.job.train.epochs);
    resp.setSamplesPerEpoch(st_.pool ? st_.pool->num_samples() : 0);
    resp.setElapsedMs(NowMs());
    resp.setAdminUrl(st_.admin_url);
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
    auto nodes = resp.initNodes(st_.servers.size() + st_.workers.size());
    size_t i = 0;
    const auto now = Clock::now();
    for (const auto* list : {&st_.servers, &st_.workers}) {
      for (const NodeInfo& n : *list) {
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

  const SchedulerOptions& options_;
  SchedulerState& st_;
  zmq::socket_t& socket_;
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
  admin_->Publish(std::move(s));
}

Status Scheduler::Run() {
  state_ = std::make_unique<SchedulerState>();
  SchedulerState& st = *state_;
  st.admin_url = admin_url();
  if (!st.admin_url.empty())
    PST_LOG_INFO("admin endpoint (dashboard, /status, /metrics) at {}", st.admin_url);
  auto published_at = Clock::now();
  uint64_t published_sig = Signature(st);
  PublishSnapshot();
  PST_ASSIGN_OR_RETURN(ModelLayout layout, ModelLayout::FromSpec(options_.job.model));
  Handler handler(options_, st, socket_);
  PST_LOG_INFO("scheduler listening at {}; waiting for {} PS and {} workers", endpoint_,
               options_.job.num_servers, options_.job.num_workers);

  auto fail = [&](std::string why) {
    if (st.state == proto::JobState::FAILED || st.state == proto::JobState::DONE) return;
    PST_LOG_ERROR("job failed: {}", why);
    st.failure = std::move(why);
    st.state = proto::JobState::FAILED;
    st.ended = Clock::now();
  };

  while (!stop_) {
    PST_RETURN_IF_ERROR(WaitReadable(socket_, std::chrono::milliseconds(100)));
    for (int budget = 0; budget < 4096; ++budget) {
      InMessage in;
      Status s = RecvMessage(socket_, /*routed=*/true, options_.limits, &in);
      if (s.code() == StatusCode::kUnavailable) break;
      OutMessage out;
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
      if (in.identity().size() == 0) continue;
      Status sent = SendMessage(socket_, out, &in.identity());
      sent.IgnoreError();  // the peer may be gone; nothing to undo
    }

    const auto now = Clock::now();
    if (st.state == proto::JobState::FORMING) {
      if (st.servers.size() == options_.job.num_servers &&
          st.workers.size() == options_.job.num_workers) {
        const auto ranges = PartitionKeys(layout.total(), options_.job.num_servers);
        for (auto* list : {&st.servers, &st.workers}) {
          for (const NodeInfo& n : *list) {
            OutMessage start;
            auto js = start.envelope().getBody().initJobStart();
            ToProto(options_.job, js.initJob());
            js.setNumWorkers(options_.job.num_workers);
            auto servers = js.initServers(st.servers.size());
            for (size_t i = 0; i < st.servers.size(); ++i) {
              servers[i].setRank(static_cast<uint32_t>(i));
              servers[i].setEndpoint(st.servers[i].endpoint);
              servers[i].setKeyBegin(ranges[i].begin);
              servers[i].setKeyEnd(ranges[i].end);
            }
            zmq::message_t id(n.identity.data(), n.identity.size());
            Status s = SendMessage(socket_, start, &id);
            if (!s.ok()) fail("could not send the job to " + Describe(n) + ": " + s.message());
          }
        }
        if (st.state == proto::JobState::FORMING) {
          st.state = proto::JobState::RUNNING;
          st.started = now;
          PST_LOG_INFO("all nodes registered; job started ({} parameters over {} PS)",
                       layout.total(), options_.job.num_servers);
        }
      } else if (now - st.created > options_.form_timeout) {
        fail("only " + std::to_string(st.servers.size()) + " of " +
             std::to_string(options_.job.num_servers) + " PS and " +
             std::to_string(st.workers.size()) + " of " +
             std::to_string(options_.job.num_workers) + " workers registered within " +
             std::to_string(options_.form_timeout.count()) + " ms");
      }
    }

    // Heartbeat bookkeeping: suspect after 3 missed beats, dead after the timeout.
    bool all_gone = true;
    for (auto* list : {&st.servers, &st.workers}) {
      for (NodeInfo& n : *list) {
        if (n.state == proto::NodeState::LEFT || n.state == proto::NodeState::DEAD) continue;
        all_gone = false;
        const auto age = now - n.last_seen;
        if (age > options_.heartbeat_timeout) {
          n.state = proto::NodeState::DEAD;
          PST_LOG_WARN("{} is dead: no heartbeat for {} ms", Describe(n),
                       std::chrono::duration_cast<std::chrono::milliseconds>(age).count());
          if (st.state == proto::JobState::RUNNING || st.state == proto::JobState::FORMING)
            fail(Describe(n) + " stopped sending heartbeats; see its log, then relaunch the job");
        } else if (age > 3 * options_.heartbeat_interval) {
          n.state = proto::NodeState::SUSPECT;
        }
      }
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
  PublishSnapshot();
  if (stop_) return Status::Cancelled("scheduler stopped by signal");
  if (st.state == proto::JobState::FAILED) return Status::Aborted("job failed: " + st.failure);
  return Status::OK();
}

}  // namespace pst
