// pst::Scheduler in one process: the test plays the PS and the workers over
// inproc://, message by message, so the scheduler's logic (forming, leases,
// evaluations, heartbeats, failures) is checked without processes or timing
// races.
#include "scheduler/scheduler.h"

#include <future>
#include <map>
#include <optional>
#include <thread>

#include <catch2/catch.hpp>
#include <zmq.hpp>

#include "common/channel.h"
#include "common/wire.h"
#include "tests/testing/require_ok.h"
#include "tests/testing/tcp_listener.h"

namespace pst {
namespace {

using std::chrono::milliseconds;
using testing::RequireOk;

constexpr milliseconds kCallTimeout{5000};

// A node (PS or worker) the test drives by hand.
class Node {
 public:
  Node(zmq::context_t& ctx, const std::string& endpoint, proto::Role role) : role_(role) {
    auto c = Channel::Connect(ctx, endpoint);
    RequireOk(c.status());
    channel_ = std::move(c).value();
  }

  // Registers; returns the answer's status (the rank is kept).
  Status Register(int32_t shard_id = -1, const std::string& endpoint = "") {
    OutMessage msg;
    auto r = msg.envelope().getBody().initRegisterRequest();
    r.setRole(role_);
    r.setEndpoint(role_ == proto::Role::SERVER && endpoint.empty() ? "inproc://ps" : endpoint);
    r.setHost("test");
    r.setPid(1);
    r.setShardId(shard_id);
    auto reply = channel_->Call(msg, kCallTimeout);
    if (!reply.ok()) return reply.status();
    auto resp = reply->envelope().getBody().getRegisterResponse();
    rank_ = resp.getRank();
    interval_ = milliseconds(resp.getHeartbeatIntervalMs());
    return FromRpcStatus(resp.getStatus());
  }

  // A heartbeat; a PS reports that it waits for `waits_for` (rank -> from clock).
  proto::JobState Heartbeat(uint64_t clock = 0, const std::map<uint32_t, uint64_t>& waits_for = {}) {
    OutMessage msg;
    auto r = msg.envelope().getBody().initHeartbeatRequest();
    r.setRole(role_);
    r.setRank(rank_);
    r.setClock(clock);
    auto list = r.initWorkers(waits_for.size());
    size_t i = 0;
    for (const auto& [rank, from] : waits_for) {
      list[i].setRank(rank);
      list[i++].setFromClock(from);
    }
    auto reply = channel_->Call(msg, kCallTimeout);
    RequireOk(reply.status());
    auto resp = reply->envelope().getBody().getHeartbeatResponse();
    interval_ = milliseconds(resp.getHeartbeatIntervalMs());
    return resp.getState();
  }

  // A heartbeat the scheduler may leave unanswered: a JobStatus call on the
  // same connection follows it, so once that is answered, so is the
  // heartbeat if it ever will be.
  struct HeartbeatAnswer {
    proto::JobState state;
    bool leave;
  };
  std::optional<HeartbeatAnswer> HeartbeatOrSilence() {
    OutMessage msg;
    auto r = msg.envelope().getBody().initHeartbeatRequest();
    r.setRole(role_);
    r.setRank(rank_);
    auto id = channel_->Send(msg);
    RequireOk(id.status());
    JobStatus();
    channel_->Pump();
    if (!channel_->HasReply(*id)) {
      channel_->Discard(*id);
      return std::nullopt;
    }
    auto reply = channel_->Await(*id, kCallTimeout);
    RequireOk(reply.status());
    auto resp = reply->envelope().getBody().getHeartbeatResponse();
    return HeartbeatAnswer{resp.getState(), resp.getLeave()};
  }

  // `pstrain scale --workers n`.
  Status Scale(uint32_t workers) {
    OutMessage msg;
    msg.envelope().getBody().initScaleRequest().setWorkers(workers);
    auto reply = channel_->Call(msg, kCallTimeout);
    if (!reply.ok()) return reply.status();
    return FromRpcStatus(reply->envelope().getBody().getScaleResponse().getStatus());
  }

  struct Grant {
    proto::ShardReplyKind kind;
    uint32_t epoch, shard;
    uint64_t idle_until;
    std::optional<std::pair<uint32_t, uint64_t>> eval;  // epoch, version
  };

  // Asks for a shard at `clock`, reporting `completed` (epoch, shard) if set.
  StatusOr<Grant> Shard(uint64_t clock, uint64_t num_samples,
                        std::optional<std::pair<uint32_t, uint32_t>> completed = std::nullopt) {
    OutMessage msg;
    auto r = msg.envelope().getBody().initShardRequest();
    r.setRank(rank_);
    r.setClock(clock);
    r.setNumSamples(num_samples);
    if (completed) {
      r.setHasCompleted(true);
      r.setCompletedEpoch(completed->first);
      r.setCompletedShard(completed->second);
      r.setCompletedLossSum(1.0);
    }
    auto reply = channel_->Call(msg, kCallTimeout);
    if (!reply.ok()) return reply.status();
    auto resp = reply->envelope().getBody().getShardResponse();
    PST_RETURN_IF_ERROR(FromRpcStatus(resp.getStatus()));
    Grant g{resp.getKind(), resp.getEpoch(), resp.getShard(), resp.getIdleUntil(), std::nullopt};
    if (resp.getEvaluate()) g.eval = std::make_pair(resp.getEvalEpoch(), resp.getEvalVersion());
    return g;
  }

  Status Eval(uint32_t epoch, uint64_t version, uint64_t correct, uint64_t total) {
    OutMessage msg;
    auto r = msg.envelope().getBody().initEvalReport();
    r.setRank(rank_);
    r.setEpoch(epoch);
    r.setVersion(version);
    r.setCorrect(correct);
    r.setTotal(total);
    auto reply = channel_->Call(msg, kCallTimeout);
    if (!reply.ok()) return reply.status();
    return FromRpcStatus(reply->envelope().getBody().getAck());
  }

  // The job status, as `pstrain status` sees it.
  struct Status_ {
    proto::JobState state;
    std::string message, waiting_for;
    std::vector<std::pair<uint64_t, bool>> epochs;  // samples, evaluated
    std::map<std::pair<proto::Role, uint32_t>, proto::NodeState> nodes;
    std::optional<proto::NodeState> NodeState(proto::Role role, uint32_t rank) const {
      auto it = nodes.find({role, rank});
      if (it == nodes.end()) return std::nullopt;
      return it->second;
    }
  };
  Status_ JobStatus() {
    OutMessage msg;
    msg.envelope().getBody().initJobStatusRequest();
    auto reply = channel_->Call(msg, kCallTimeout);
    RequireOk(reply.status());
    auto r = reply->envelope().getBody().getJobStatusResponse();
    Status_ s{r.getState(), r.getMessage().cStr(), r.getWaitingFor().cStr(), {}};
    for (auto e : r.getEpochs()) s.epochs.emplace_back(e.getSamples(), e.getEvaluated());
    for (auto n : r.getNodes()) s.nodes[{n.getRole(), n.getRank()}] = n.getState();
    return s;
  }

  // Trains leases until the scheduler hands this worker an evaluation order
  // (returned) or says done (nullopt). Lockstep: a lease of L batches asked
  // for at clock c ends at c + L.
  std::optional<std::pair<uint32_t, uint64_t>> TrainUntilEvaluation(uint64_t num_samples, uint32_t batches) {
    std::optional<std::pair<uint32_t, uint32_t>> completed;
    for (int i = 0; i < 100; ++i) {
      Heartbeat(clock_);  // alive while it trains
      auto g = Shard(clock_, num_samples, completed);
      RequireOk(g.status());
      completed.reset();
      if (g->eval) return g->eval;
      if (g->kind == proto::ShardReplyKind::DONE) return std::nullopt;
      if (g->kind == proto::ShardReplyKind::LEASE) {
        completed = std::make_pair(g->epoch, g->shard);
        clock_ += batches;
      } else if (g->kind == proto::ShardReplyKind::IDLE) {
        clock_ = g->idle_until;
      }
    }
    FAIL("no evaluation order after 100 shard requests");
    return std::nullopt;
  }

  // Sends `pstrain checkpoint`'s request (answered once a round is decided,
  // or its timeout passed); returns its id for Answer / Answered.
  uint64_t AskCheckpoint(milliseconds timeout) {
    OutMessage msg;
    msg.envelope().getBody().initCheckpointRequest().setTimeoutMs(timeout.count());
    auto id = channel_->Send(msg);
    RequireOk(id.status());
    return *id;
  }
  // Whether request `id` has been answered: a JobStatus call on the same
  // connection follows it, so anything answered at once has arrived by then.
  bool Answered(uint64_t id) {
    JobStatus();
    channel_->Pump();
    return channel_->HasReply(id);
  }
  // The status a checkpoint request `id` was answered with (waits for it).
  Status CheckpointAnswer(uint64_t id) {
    auto reply = channel_->Await(id, kCallTimeout);
    if (!reply.ok()) return reply.status();
    return FromRpcStatus(reply->envelope().getBody().getCheckpointResponse().getStatus());
  }

  uint32_t rank() const { return rank_; }
  // The heartbeat interval the last registration or heartbeat answer named.
  milliseconds heartbeat_interval() const { return interval_; }
  uint64_t clock() const { return clock_; }

 private:
  proto::Role role_;
  std::unique_ptr<Channel> channel_;
  uint32_t rank_ = 0;
  milliseconds interval_{0};
  uint64_t clock_ = 0;
};

// A scheduler running on a thread of its own, bound to an inproc:// address.
class InProcessScheduler {
 public:
  explicit InProcessScheduler(SchedulerOptions options) {
    static int counter = 0;
    options.bind_host = "inproc://scheduler-" + std::to_string(++counter);
    options.admin_port = -1;
    auto s = Scheduler::Create(ctx_, options);
    RequireOk(s.status());
    scheduler_ = std::move(s).value();
    done_ = std::async(std::launch::async, [this] { return scheduler_->Run(); });
  }
  ~InProcessScheduler() {
    scheduler_->Shutdown();
    if (done_.valid()) done_.wait();
  }
  zmq::context_t& ctx() { return ctx_; }
  const std::string& endpoint() const { return scheduler_->endpoint(); }
  // Run()'s result, once it returned within `timeout`.
  std::optional<Status> Result(milliseconds timeout) {
    if (!done_.valid() || done_.wait_for(timeout) != std::future_status::ready) return std::nullopt;
    return done_.get();
  }

 private:
  zmq::context_t ctx_{1};
  std::unique_ptr<Scheduler> scheduler_;
  std::future<Status> done_;
};

SchedulerOptions SmallJob(uint32_t workers) {
  SchedulerOptions o;
  o.job.num_servers = 1;
  o.job.num_workers = workers;
  o.job.train.epochs = 1;
  o.job.train.batch_size = 10;
  o.job.train.batches_per_shard = 2;
  o.heartbeat_interval = milliseconds(20);
  o.heartbeat_timeout = milliseconds(10000);
  o.heartbeat_answer_interval = milliseconds(0);  // Node::Heartbeat waits for every answer
  return o;
}

constexpr uint64_t kSamples = 40;  // 2 shards of 2 batches of 10

bool Running(Node& n) { return n.JobStatus().state == proto::JobState::RUNNING; }

// Keeps the given nodes' heartbeats going until pred() holds (or 10 s pass).
template <typename Pred>
bool HeartbeatUntil(std::vector<Node*> nodes, Pred pred) {
  for (int i = 0; i < 1000; ++i) {
    if (pred()) return true;
    for (Node* n : nodes) n->Heartbeat();
    std::this_thread::sleep_for(milliseconds(10));
  }
  return pred();
}

TEST_CASE("Scheduler: leases every sample once and ends the job with the last evaluation", "[scheduler]") {
  InProcessScheduler sched(SmallJob(1));
  Node ps(sched.ctx(), sched.endpoint(), proto::Role::SERVER);
  Node worker(sched.ctx(), sched.endpoint(), proto::Role::WORKER);
  RequireOk(ps.Register());
  RequireOk(worker.Register());
  REQUIRE(HeartbeatUntil({}, [&] { return Running(ps); }));
  auto order = worker.TrainUntilEvaluation(kSamples, 2);
  REQUIRE(order);
  CHECK(order->first == 0);
  CHECK(order->second == 4);  // 2 leases of 2 clocks
  auto before = worker.JobStatus();
  CHECK(before.state == proto::JobState::RUNNING);
  REQUIRE(before.epochs.size() == 1);
  CHECK(before.epochs[0].first == kSamples);
  CHECK_FALSE(before.epochs[0].second);
  RequireOk(worker.Eval(0, order->second, 30, 40));
  auto after = worker.JobStatus();
  CHECK(after.state == proto::JobState::DONE);
  CHECK(after.epochs[0].second);
  CHECK(after.waiting_for.empty());
}

TEST_CASE("Scheduler: a request decoded as malformed changes nothing", "[scheduler]") {
  InProcessScheduler sched(SmallJob(1));
  Node ps(sched.ctx(), sched.endpoint(), proto::Role::SERVER);
  Node worker(sched.ctx(), sched.endpoint(), proto::Role::WORKER);
  RequireOk(ps.Register());
  RequireOk(worker.Register());
  REQUIRE(HeartbeatUntil({}, [&] { return Running(ps); }));
  auto first = worker.Shard(0, kSamples);
  RequireOk(first.status());
  REQUIRE(first->kind == proto::ShardReplyKind::LEASE);
  // A completion of an epoch the job does not have is refused whole: the
  // lease stays outstanding, nothing is counted.
  auto bad = worker.Shard(2, kSamples, std::make_pair(7u, 0u));
  CHECK(bad.status().code() == StatusCode::kInvalidArgument);
  CHECK(worker.JobStatus().epochs[0].first == 0);
}

TEST_CASE("Scheduler: the evaluation of a dead worker goes to a live one", "[scheduler]") {
  SchedulerOptions o = SmallJob(2);
  o.heartbeat_timeout = milliseconds(1000);
  InProcessScheduler sched(o);
  Node ps(sched.ctx(), sched.endpoint(), proto::Role::SERVER);
  Node w0(sched.ctx(), sched.endpoint(), proto::Role::WORKER);
  Node w1(sched.ctx(), sched.endpoint(), proto::Role::WORKER);
  RequireOk(ps.Register());
  RequireOk(w0.Register());
  RequireOk(w1.Register());
  REQUIRE(HeartbeatUntil({}, [&] { return Running(ps); }));
  // Each takes one of the epoch's two shards.
  auto g0 = w0.Shard(0, kSamples);
  auto g1 = w1.Shard(0, kSamples);
  RequireOk(g0.status());
  RequireOk(g1.status());
  REQUIRE(g0->kind == proto::ShardReplyKind::LEASE);
  REQUIRE(g1->kind == proto::ShardReplyKind::LEASE);
  // Worker 0 closes the epoch and gets its evaluation, then goes silent.
  w0.Heartbeat(2);
  auto closing = w0.Shard(2, kSamples, std::make_pair(g0->epoch, g0->shard));
  RequireOk(closing.status());
  REQUIRE(closing->eval);
  REQUIRE(HeartbeatUntil({&ps, &w1}, [&] { return w1.JobStatus().NodeState(proto::Role::WORKER, 0) ==
                                                  proto::NodeState::DEAD; }));
  // Worker 1's next request takes the evaluation over.
  auto next = w1.Shard(2, kSamples, std::make_pair(g1->epoch, g1->shard));
  RequireOk(next.status());
  REQUIRE(next->eval);
  CHECK(*next->eval == *closing->eval);
  RequireOk(w1.Eval(next->eval->first, next->eval->second, 35, 40));
  CHECK(w1.JobStatus().state == proto::JobState::DONE);
}

TEST_CASE("Scheduler: an evaluation with no live worker left says so, then fails the job", "[scheduler]") {
  SchedulerOptions o = SmallJob(1);
  o.heartbeat_timeout = milliseconds(1000);
  o.recovery_timeout = milliseconds(2500);
  InProcessScheduler sched(o);
  Node ps(sched.ctx(), sched.endpoint(), proto::Role::SERVER);
  Node worker(sched.ctx(), sched.endpoint(), proto::Role::WORKER);
  RequireOk(ps.Register());
  RequireOk(worker.Register());
  REQUIRE(HeartbeatUntil({}, [&] { return Running(ps); }));
  auto order = worker.TrainUntilEvaluation(kSamples, 2);
  REQUIRE(order);
  // The worker dies with the order: nobody is left to evaluate the epoch.
  std::string waiting;
  REQUIRE(HeartbeatUntil({&ps}, [&] {
    waiting = ps.JobStatus().waiting_for;
    return !waiting.empty();
  }));
  CHECK(waiting == "waiting for a worker: the evaluation of epoch 1 has no live worker");
  CHECK(ps.JobStatus().state == proto::JobState::RUNNING);
  Node::Status_ end;
  REQUIRE(HeartbeatUntil({&ps}, [&] {
    end = ps.JobStatus();
    return end.state != proto::JobState::RUNNING;
  }));
  CHECK(end.state == proto::JobState::FAILED);
  CHECK_THAT(end.message, Catch::Contains("the evaluation of epoch 1 has no live worker"));
  auto result = sched.Result(milliseconds(15000));
  REQUIRE(result);
  CHECK(result->code() == StatusCode::kAborted);
}

TEST_CASE("Scheduler: a worker joining while nobody is left ends the wait", "[scheduler]") {
  SchedulerOptions o = SmallJob(1);
  o.heartbeat_timeout = milliseconds(1000);
  o.recovery_timeout = milliseconds(60000);
  InProcessScheduler sched(o);
  Node ps(sched.ctx(), sched.endpoint(), proto::Role::SERVER);
  Node worker(sched.ctx(), sched.endpoint(), proto::Role::WORKER);
  RequireOk(ps.Register());
  RequireOk(worker.Register());
  REQUIRE(HeartbeatUntil({}, [&] { return Running(ps); }));
  RequireOk(worker.Shard(0, kSamples).status());
  REQUIRE(HeartbeatUntil({&ps}, [&] { return !ps.JobStatus().waiting_for.empty(); }));
  CHECK(ps.JobStatus().waiting_for == "waiting for a worker: epoch 1 has data left to train and no live worker");
  Node joiner(sched.ctx(), sched.endpoint(), proto::Role::WORKER);
  RequireOk(joiner.Register());
  CHECK(joiner.rank() == 1);
  REQUIRE(HeartbeatUntil({&ps, &joiner}, [&] { return ps.JobStatus().waiting_for.empty(); }));
  CHECK(ps.JobStatus().state == proto::JobState::RUNNING);
}

TEST_CASE("Scheduler: a new PS for a shard whose PS answers is refused, once it is gone, accepted",
          "[scheduler]") {
  SchedulerOptions o = SmallJob(1);
  o.heartbeat_timeout = milliseconds(1000);
  o.recovery_timeout = milliseconds(2500);
  InProcessScheduler sched(o);
  // PS 0's endpoint is a real listening socket, as a live PS's is.
  testing::TcpListener listening;
  const std::string ps_endpoint = listening.endpoint();
  REQUIRE_FALSE(ps_endpoint.empty());
  Node ps(sched.ctx(), sched.endpoint(), proto::Role::SERVER);
  Node worker(sched.ctx(), sched.endpoint(), proto::Role::WORKER);
  RequireOk(ps.Register(0, ps_endpoint));
  RequireOk(worker.Register());
  REQUIRE(HeartbeatUntil({&ps, &worker}, [&] { return ps.JobStatus().state == proto::JobState::RUNNING; }));

  Node intruder(sched.ctx(), sched.endpoint(), proto::Role::SERVER);
  ps.Heartbeat();
  Status refused = intruder.Register(0, "tcp://127.0.0.1:1");
  CHECK(refused.code() == StatusCode::kFailedPrecondition);
  CHECK_THAT(refused.message(), Catch::Contains("shard 0 has a live PS"));
  CHECK(ps.JobStatus().state == proto::JobState::RUNNING);  // no rollback
  CHECK(ps.JobStatus().NodeState(proto::Role::SERVER, 0) == proto::NodeState::ALIVE);

  listening.Close();  // PS 0 is gone: nothing answers at its address
  Node replacement(sched.ctx(), sched.endpoint(), proto::Role::SERVER);
  RequireOk(replacement.Register(0, "tcp://127.0.0.1:2"));
  CHECK(replacement.rank() == 0);
  REQUIRE(HeartbeatUntil({&worker}, [&] { return ps.JobStatus().state == proto::JobState::RECOVERING; }));

  // The replacement dies before it restored: declared dead like any PS, and
  // the job fails once nobody replaced it in time, saying which shard.
  REQUIRE(HeartbeatUntil({&worker}, [&] {
    return ps.JobStatus().NodeState(proto::Role::SERVER, 0) == proto::NodeState::DEAD;
  }));
  Node::Status_ end;
  REQUIRE(HeartbeatUntil({&worker}, [&] {
    end = ps.JobStatus();
    return end.state == proto::JobState::FAILED;
  }));
  CHECK_THAT(end.message, Catch::Contains("no live PS for shard 0"));
}

TEST_CASE("Scheduler: a running worker's heartbeat is answered only with news, or now and then",
          "[scheduler]") {
  SchedulerOptions o = SmallJob(2);
  o.heartbeat_answer_interval = milliseconds(300);
  InProcessScheduler sched(o);
  Node ps(sched.ctx(), sched.endpoint(), proto::Role::SERVER);
  Node w0(sched.ctx(), sched.endpoint(), proto::Role::WORKER);
  Node w1(sched.ctx(), sched.endpoint(), proto::Role::WORKER);
  RequireOk(ps.Register());
  RequireOk(w0.Register());
  RequireOk(w1.Register());
  REQUIRE(HeartbeatUntil({}, [&] { return Running(ps); }));

  // The first heartbeat of the running job learns that it runs; the next
  // ones have nothing new to learn.
  const auto first_sent = std::chrono::steady_clock::now();
  auto first = w1.HeartbeatOrSilence();
  REQUIRE(first);
  CHECK(first->state == proto::JobState::RUNNING);
  CHECK_FALSE(first->leave);
  CHECK_FALSE(w1.HeartbeatOrSilence());
  CHECK_FALSE(w1.HeartbeatOrSilence());
  // A PS's heartbeats are always answered (they carry the directive).
  CHECK(ps.Heartbeat() == proto::JobState::RUNNING);
  CHECK(ps.Heartbeat() == proto::JobState::RUNNING);

  // Once its last answer is heartbeat_answer_interval old, the worker gets one
  // again, so it never counts the scheduler lost.
  std::optional<Node::HeartbeatAnswer> again;
  for (int i = 0; i < 500 && !again; ++i) {
    again = w1.HeartbeatOrSilence();
    if (!again) std::this_thread::sleep_for(milliseconds(10));
  }
  REQUIRE(again);
  CHECK(std::chrono::steady_clock::now() - first_sent >= o.heartbeat_answer_interval);
  CHECK(again->state == proto::JobState::RUNNING);

  // News is answered at once: scaled down to one worker, the newest is asked
  // to leave with its very next heartbeat, and the other hears nothing.
  RequireOk(ps.Scale(1));
  auto leave = w1.HeartbeatOrSilence();
  REQUIRE(leave);
  CHECK(leave->leave);
  w0.HeartbeatOrSilence();  // its first in the running job
  CHECK_FALSE(w0.HeartbeatOrSilence());
}

TEST_CASE("Scheduler: one client leaves at most max_in_flight_per_client checkpoint requests waiting",
          "[scheduler]") {
  SchedulerOptions o = SmallJob(1);
  o.job.network.max_in_flight_per_client = 2;
  InProcessScheduler sched(o);
  Node ps(sched.ctx(), sched.endpoint(), proto::Role::SERVER);
  Node worker(sched.ctx(), sched.endpoint(), proto::Role::WORKER);
  RequireOk(ps.Register());
  RequireOk(worker.Register());
  REQUIRE(HeartbeatUntil({}, [&] { return Running(ps); }));
  // The test's PS never reports a checkpoint written, so requests wait for
  // their timeout.
  Node a(sched.ctx(), sched.endpoint(), proto::Role::WORKER);
  const uint64_t a1 = a.AskCheckpoint(milliseconds(60000));
  const uint64_t a2 = a.AskCheckpoint(milliseconds(60000));
  const uint64_t a3 = a.AskCheckpoint(milliseconds(60000));
  CHECK_FALSE(a.Answered(a1));
  CHECK_FALSE(a.Answered(a2));
  REQUIRE(a.Answered(a3));
  const Status refused = a.CheckpointAnswer(a3);
  CHECK(refused.code() == StatusCode::kResourceExhausted);
  CHECK(refused.message().find("network.max_in_flight_per_client") != std::string::npos);

  // Another client has places of its own; an answered request gives its place back.
  Node b(sched.ctx(), sched.endpoint(), proto::Role::WORKER);
  const uint64_t b1 = b.AskCheckpoint(milliseconds(50));
  const uint64_t b2 = b.AskCheckpoint(milliseconds(50));
  CHECK(b.CheckpointAnswer(b1).code() == StatusCode::kDeadlineExceeded);
  CHECK(b.CheckpointAnswer(b2).code() == StatusCode::kDeadlineExceeded);
  const uint64_t b3 = b.AskCheckpoint(milliseconds(60000));
  const uint64_t b4 = b.AskCheckpoint(milliseconds(60000));
  CHECK_FALSE(b.Answered(b3));
  CHECK_FALSE(b.Answered(b4));

  // The job ends: every waiting request is answered.
  auto order = worker.TrainUntilEvaluation(kSamples, 2);
  REQUIRE(order);
  RequireOk(worker.Eval(order->first, order->second, 30, 40));
  for (auto [node, id] : {std::pair{&a, a1}, {&a, a2}, {&b, b3}, {&b, b4}})
    CHECK(node->CheckpointAnswer(id).code() == StatusCode::kFailedPrecondition);
}

TEST_CASE("Scheduler: a large job is told a heartbeat interval within the heartbeat budget", "[scheduler]") {
  // 1 PS + 3 workers, 20 ms heartbeats, a budget of 40 heartbeats/s: 4 nodes
  // may beat every 100 ms.
  SchedulerOptions o = SmallJob(3);
  o.max_heartbeats_per_second = 40;
  InProcessScheduler sched(o);
  Node ps(sched.ctx(), sched.endpoint(), proto::Role::SERVER);
  std::vector<std::unique_ptr<Node>> workers;
  RequireOk(ps.Register());
  CHECK(ps.heartbeat_interval() == milliseconds(100));
  for (int i = 0; i < 3; ++i) {
    workers.push_back(std::make_unique<Node>(sched.ctx(), sched.endpoint(), proto::Role::WORKER));
    RequireOk(workers.back()->Register());
    CHECK(workers.back()->heartbeat_interval() == milliseconds(100));
  }
  REQUIRE(HeartbeatUntil({}, [&] { return Running(ps); }));
  // Scaled out to 7 workers: 8 nodes, every 200 ms, told in the answers.
  RequireOk(ps.Scale(7));
  CHECK(ps.Heartbeat() == proto::JobState::RUNNING);
  CHECK(ps.heartbeat_interval() == milliseconds(200));

  // Never beyond a quarter of the timeout; with the budget off, the job's own.
  o.max_heartbeats_per_second = 1;
  InProcessScheduler tight(o);
  Node ps2(tight.ctx(), tight.endpoint(), proto::Role::SERVER);
  RequireOk(ps2.Register());
  CHECK(ps2.heartbeat_interval() == o.heartbeat_timeout / 4);
  o.max_heartbeats_per_second = 0;
  InProcessScheduler off(o);
  Node ps3(off.ctx(), off.endpoint(), proto::Role::SERVER);
  RequireOk(ps3.Register());
  CHECK(ps3.heartbeat_interval() == o.heartbeat_interval);
}

}  // namespace
}  // namespace pst
