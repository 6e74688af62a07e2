// pst::Server in one process with a real Scheduler (each on a thread with its
// own ZeroMQ context, over loopback TCP port 0); the test registers as the
// job's only worker and talks to the PS with hand-built requests, so the
// server's request handling is checked without processes.
#include "ps/server.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <memory>
#include <vector>

#include "common/channel.h"
#include "common/job_spec.h"
#include "common/job_tables.h"
#include "common/slot_map.h"
#include "common/table_spec.h"
#include "tests/inprocess_cluster.h"

namespace pst {
namespace {

using std::chrono::milliseconds;
constexpr milliseconds kWait{10000};
constexpr uint64_t kKeys = 4 * 2 + 2;  // model {4, 2}: w0 and b0
constexpr float kLr = 0.5f;

JobSpec TinyJob() {
  JobSpec job;
  job.model.layer_sizes = {4, 2};
  job.num_servers = 1;
  job.num_workers = 1;
  job.optimizer.kind = OptimizerKind::kSgd;
  job.optimizer.learning_rate = kLr;
  job.checkpoint.every_steps = 0;
  return job;
}

// The test as the job's worker: registered, heartbeating, one channel to the PS.
struct FakeWorker {
  explicit FakeWorker(testing::InProcessCluster& cluster) {
    auto w = cluster.JoinAsWorker();
    REQUIRE(w.ok());
    sched = std::move(w->scheduler);
    heartbeat = std::move(w->heartbeat);
    joined = std::move(w->joined);
    REQUIRE(joined.servers.size() == 1);
    REQUIRE(joined.servers[0].range == (KeyRange{0, kKeys}));
    auto ps_or = Channel::Connect(cluster.client_ctx(), joined.servers[0].endpoint);
    REQUIRE(ps_or.ok());
    ps = std::move(ps_or).value();
  }

  void Pull(OutMessage& msg, uint64_t min_version) {
    auto req = msg.envelope().getBody().initPullRequest();
    req.setKeyBegin(0);
    req.setKeyEnd(kKeys);
    req.setMinVersion(min_version);
    req.setRank(joined.rank);
    req.setGeneration(joined.generation);
  }
  // A push of `grad` for every key at `clock` over `samples` samples.
  void Push(OutMessage& msg, uint64_t clock, float grad, uint32_t samples, bool then_pull) {
    auto req = msg.envelope().getBody().initPushRequest();
    req.setRank(joined.rank);
    req.setClock(clock);
    req.setGeneration(joined.generation);
    req.setKeyBegin(0);
    req.setKeyEnd(kKeys);
    req.setSampleCount(samples);
    req.setChunks(1);
    req.setThenPull(then_pull);
    req.setPullMinVersion(clock + 1);
    const std::vector<float> g(kKeys, grad);
    msg.AddFloatsCopy(g.data(), g.size());
  }
  StatusOr<InMessage> Call(OutMessage& msg) { return ps->Call(msg, kWait); }

  std::unique_ptr<Channel> sched;
  std::unique_ptr<Channel> ps;
  std::unique_ptr<Heartbeater> heartbeat;
  JoinedJob joined;
};

// The values and version of a pull answer.
struct Pulled {
  uint64_t version = 0;
  std::vector<float> values;
};
Pulled Values(StatusOr<InMessage> reply) {
  REQUIRE(reply.ok());
  auto body = reply->envelope().getBody();
  REQUIRE(body.isPullResponse());
  auto resp = body.getPullResponse();
  REQUIRE(FromRpcStatus(resp.getStatus()).ok());
  REQUIRE(reply->num_bulk_frames() == 1);
  REQUIRE(reply->num_floats(0) == kKeys);
  return {resp.getVersion(), std::vector<float>(reply->floats(0), reply->floats(0) + kKeys)};
}

std::vector<float> InitialValues(const JobSpec& job) {
  auto tables = JobTables(job);
  REQUIRE(tables.ok());
  std::vector<float> v(kKeys);
  InitDenseKeys(*tables, 0, kKeys, v.data());
  return v;
}

TEST_CASE("Server: serves the declared tables' initial values and applies a push", "[ps]") {
  const JobSpec job = TinyJob();
  auto cluster = testing::InProcessCluster::Start(job, /*run_workers=*/0, "");
  REQUIRE(cluster.ok());
  FakeWorker w(**cluster);

  OutMessage first;
  w.Pull(first, 0);
  const Pulled init = Values(w.Call(first));
  CHECK(init.version == 0);
  CHECK(init.values == InitialValues(job));

  // A pull for version 1 waits for clock 0's push: sent first, it is answered
  // with the updated model.
  OutMessage later;
  w.Pull(later, 1);
  auto later_id = w.ps->Send(later);
  REQUIRE(later_id.ok());
  OutMessage push;
  w.Push(push, /*clock=*/0, /*grad=*/1.0f, /*samples=*/2, /*then_pull=*/true);
  const Pulled carried = Values(w.Call(push));
  const Pulled deferred = Values(w.ps->Await(*later_id, kWait));
  CHECK(carried.version == 1);
  CHECK(deferred.version == 1);
  CHECK(deferred.values == carried.values);
  // SGD on the mean gradient: 1.0 summed over 2 samples.
  for (uint64_t k = 0; k < kKeys; ++k)
    CHECK(carried.values[k] == Approx(init.values[k] - kLr * 0.5f).margin(1e-6));
  CHECK((*cluster)->Stop().ok());
}

TEST_CASE("Server: bad requests get error replies and change nothing", "[ps]") {
  const JobSpec job = TinyJob();
  auto cluster = testing::InProcessCluster::Start(job, 0, "");
  REQUIRE(cluster.ok());
  FakeWorker w(**cluster);
  OutMessage first;
  w.Pull(first, 0);
  const Pulled before = Values(w.Call(first));

  // Not a PS message at all: an error reply.
  OutMessage other;
  other.envelope().getBody().initShardRequest();
  CHECK(w.Call(other).status().code() == StatusCode::kInvalidArgument);

  // A push of another generation: kAborted, in the push's own answer.
  OutMessage stale;
  w.Push(stale, 0, 1.0f, 2, false);
  stale.envelope().getBody().getPushRequest().setGeneration(w.joined.generation + 1);
  auto stale_reply = w.Call(stale);
  REQUIRE(stale_reply.ok());
  REQUIRE(stale_reply->envelope().getBody().isPushResponse());
  CHECK(FromRpcStatus(stale_reply->envelope().getBody().getPushResponse().getStatus()).code() ==
        StatusCode::kAborted);

  // Two value frames, and a push-and-pull with values of the wrong size: the
  // refusal comes in the pull answer.
  OutMessage two;
  w.Push(two, 0, 1.0f, 2, false);
  const float extra = 1.0f;
  two.AddFloatsCopy(&extra, 1);
  auto two_reply = w.Call(two);
  REQUIRE(two_reply.ok());
  CHECK(FromRpcStatus(two_reply->envelope().getBody().getPushResponse().getStatus()).code() ==
        StatusCode::kInvalidArgument);
  OutMessage shrunk;
  w.Push(shrunk, 0, 1.0f, 2, true);
  shrunk.envelope().getBody().getPushRequest().setKeyEnd(kKeys - 1);
  auto shrunk_reply = w.Call(shrunk);
  REQUIRE(shrunk_reply.ok());
  REQUIRE(shrunk_reply->envelope().getBody().isPullResponse());
  CHECK(FromRpcStatus(shrunk_reply->envelope().getBody().getPullResponse().getStatus()).code() ==
        StatusCode::kInvalidArgument);

  // A pull of another generation: kAborted.
  OutMessage stale_pull;
  w.Pull(stale_pull, 0);
  stale_pull.envelope().getBody().getPullRequest().setGeneration(w.joined.generation + 7);
  auto stale_pull_reply = w.Call(stale_pull);
  REQUIRE(stale_pull_reply.ok());
  CHECK(
      FromRpcStatus(stale_pull_reply->envelope().getBody().getPullResponse().getStatus()).code() ==
      StatusCode::kAborted);

  // The model is untouched, and a good push still works.
  OutMessage again;
  w.Pull(again, 0);
  const Pulled after = Values(w.Call(again));
  CHECK(after.version == 0);
  CHECK(after.values == before.values);
  OutMessage good;
  w.Push(good, 0, 1.0f, 2, true);
  CHECK(Values(w.Call(good)).version == 1);
  CHECK((*cluster)->Stop().ok());
}

// The status of a reply: its error, or its pull answer's status.
Status ReplyStatus(const StatusOr<InMessage>& reply) {
  if (!reply.ok()) return reply.status();
  auto body = reply->envelope().getBody();
  if (body.isPullResponse()) return FromRpcStatus(body.getPullResponse().getStatus());
  if (body.isSparsePullResponse()) return FromRpcStatus(body.getSparsePullResponse().getStatus());
  return Status::Internal("unexpected answer");
}

TEST_CASE("Server: requests over the job's limits get kResourceExhausted naming the limit",
          "[ps]") {
  JobSpec job = TinyJob();
  // The scheduler has the same limit: its four clients (the PS's and the
  // test's channel and heartbeats) fit.
  job.network.max_clients = 4;
  job.network.max_in_flight_per_client = 2;
  job.network.max_frame_bytes = 16 * sizeof(float);
  job.network.max_ids_per_request = 4;
  auto cluster = testing::InProcessCluster::Start(job, 0, "");
  REQUIRE(cluster.ok());
  FakeWorker w(**cluster);
  OutMessage first;
  w.Pull(first, 0);
  const Pulled before = Values(w.Call(first));

  // Two pulls of a version to come wait; the third is refused at once.
  std::vector<uint64_t> waiting;
  for (int i = 0; i < 2; ++i) {
    OutMessage pull;
    w.Pull(pull, 1);
    auto id = w.ps->Send(pull);
    REQUIRE(id.ok());
    waiting.push_back(*id);
  }
  OutMessage third;
  w.Pull(third, 1);
  Status refused = ReplyStatus(w.Call(third));
  CHECK(refused.code() == StatusCode::kResourceExhausted);
  CHECK(refused.message().find("network.max_in_flight_per_client") != std::string::npos);

  // A frame over max_frame_bytes: an error reply, before anything is decoded.
  OutMessage big;
  w.Push(big, 0, 1.0f, 2, false);
  const std::vector<float> extra(17, 1.0f);
  big.AddFloatsCopy(extra.data(), extra.size());
  Status frame = w.Call(big).status();
  CHECK(frame.code() == StatusCode::kResourceExhausted);
  CHECK(frame.message().find("network.max_frame_bytes") != std::string::npos);

  // Five ids where four are allowed (this job has no sparse table: the size
  // is checked first).
  OutMessage sparse;
  auto sreq = sparse.envelope().getBody().initSparsePullRequest();
  sreq.setTable("emb");
  sreq.setGeneration(w.joined.generation);
  auto ids = sreq.initIds(5);
  for (uint32_t i = 0; i < 5; ++i) ids.set(i, i);
  Status many = ReplyStatus(w.Call(sparse));
  CHECK(many.code() == StatusCode::kResourceExhausted);
  CHECK(many.message().find("network.max_ids_per_request") != std::string::npos);

  // Clients: the worker's connection and three more are answered, a fifth not.
  std::vector<Status> answers;
  std::vector<std::unique_ptr<Channel>> others;
  for (int i = 0; i < 4; ++i) {
    auto c = Channel::Connect((*cluster)->client_ctx(), w.joined.servers[0].endpoint);
    REQUIRE(c.ok());
    others.push_back(std::move(c).value());
    OutMessage stale;
    w.Pull(stale, 0);
    stale.envelope().getBody().getPullRequest().setGeneration(w.joined.generation + 1);
    answers.push_back(ReplyStatus(others.back()->Call(stale, kWait)));
  }
  CHECK(answers[0].code() == StatusCode::kAborted);
  CHECK(answers[1].code() == StatusCode::kAborted);
  CHECK(answers[2].code() == StatusCode::kAborted);
  CHECK(answers[3].code() == StatusCode::kResourceExhausted);
  CHECK(answers[3].message().find("network.max_clients") != std::string::npos);

  // Nothing changed, and the waiting pulls are answered once the push lands.
  OutMessage good;
  w.Push(good, 0, 1.0f, 2, true);
  const Pulled after = Values(w.Call(good));
  CHECK(after.version == 1);
  for (uint64_t k = 0; k < kKeys; ++k)
    CHECK(after.values[k] == Approx(before.values[k] - kLr * 0.5f).margin(1e-6));
  for (uint64_t id : waiting) CHECK(Values(w.ps->Await(id, kWait)).version == 1);
  // Their places are free again.
  OutMessage again;
  w.Pull(again, 2);
  auto again_id = w.ps->Send(again);
  REQUIRE(again_id.ok());
  OutMessage next;
  w.Pull(next, 2);
  auto next_id = w.ps->Send(next);
  REQUIRE(next_id.ok());
  OutMessage push1;
  w.Push(push1, 1, 1.0f, 2, false);
  CHECK(w.Call(push1).ok());
  CHECK(Values(w.ps->Await(*again_id, kWait)).version == 2);
  CHECK(Values(w.ps->Await(*next_id, kWait)).version == 2);
  CHECK((*cluster)->Stop().ok());
}

// The sparse ids' partition is the scheduler's: every node gets its slot
// map with the job, and each PS serves the slots the map gives it.
TEST_CASE("Server: a sparse job's nodes get the scheduler's slot map with the job", "[ps]") {
  JobSpec job;
  job.model.kind = ModelKind::kFm;
  job.model.factors = 4;
  job.sparse_data.format = DataFormat::kLibsvm;
  job.sparse_data.train = "train.svm";  // never read: no worker trains here
  job.sparse_data.test = "test.svm";
  job.num_servers = 2;
  job.num_workers = 1;
  job.checkpoint.every_steps = 0;
  auto cluster = testing::InProcessCluster::Start(job, /*run_workers=*/0, "");
  REQUIRE(cluster.ok());
  auto w = (*cluster)->JoinAsWorker();
  REQUIRE(w.ok());
  REQUIRE(w->joined.slot_map.has_value());
  const SlotMap& map = *w->joined.slot_map;
  CHECK(map.num_shards() == 2);
  CHECK(map.num_slots() == kDefaultSparseSlots);
  CHECK(map.assignment() == SlotMap::Even(kDefaultSparseSlots, 2)->assignment());
  CHECK((*cluster)->Stop().ok());
}

TEST_CASE("Server: Create refuses bad options", "[ps]") {
  zmq::context_t ctx(1);
  ServerOptions o;
  CHECK(Server::Create(ctx, o).status().code() == StatusCode::kInvalidArgument);
  o.scheduler_endpoint = "tcp://127.0.0.1:1";
  o.poll_interval = milliseconds(0);
  CHECK(Server::Create(ctx, o).status().code() == StatusCode::kInvalidArgument);
  o.poll_interval = milliseconds(100);
  o.drain_budget = 0;
  CHECK(Server::Create(ctx, o).status().code() == StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pst
