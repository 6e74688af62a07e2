// The PS side of sparse tables behind real ZeroMQ sockets (inproc), driven by
// the worker's SparseClient: requests split over two shards, ASP and BSP, and
// refusals that leave the tables untouched.
#include "ps/sparse_handler.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "common/bind.h"
#include "common/hash.h"
#include "worker/sparse_client.h"

namespace pst {
namespace {

SparseTableOptions EmbTable() {
  SparseTableOptions t;
  t.name = "emb";
  t.dim = 4;
  t.optimizer = {"adagrad", {{"lr", 0.1}}};
  return t;
}

// Shards 0 and 1 of a two-PS job, each a SparseHandler served on an inproc
// ROUTER socket by a thread of its own.
class TwoShards {
 public:
  explicit TwoShards(Consistency consistency, uint32_t workers = 1) {
    auto map = SlotMap::Even(64, 2);
    REQUIRE(map.ok());
    slots = *map;
    for (uint32_t s = 0; s < 2; ++s) {
      SparseShardOptions o;
      o.tables = {EmbTable()};
      o.consistency = consistency;
      o.num_workers = workers;
      o.slot_map = slots;
      o.shard = s;
      auto h = SparseHandler::Create(o, {});
      REQUIRE(h.ok());
      handlers[s] = std::move(h).value();
      endpoints[s] = "inproc://sparse-" + std::to_string(s) + "-" + std::to_string(uintptr_t(this));
      sockets[s] = zmq::socket_t(ctx, zmq::socket_type::router);
      sockets[s].bind(endpoints[s]);
      threads[s] = std::thread([this, s] {
        Status st = ServeSparseRequests(sockets[s], *handlers[s], 0, stop);
        REQUIRE(st.ok());
      });
    }
  }
  ~TwoShards() { Stop(); }
  void Stop() {
    stop = true;
    for (auto& t : threads)
      if (t.joinable()) t.join();
  }
  std::unique_ptr<SparseClient> Client(bool every_shard = false) {
    SparseClientOptions o;
    o.endpoints = {endpoints[0], endpoints[1]};
    o.slot_map = slots;
    o.push_to_every_shard = every_shard;
    o.timeout = std::chrono::milliseconds(10000);
    auto c = SparseClient::Create(ctx, o);
    REQUIRE(c.ok());
    return std::move(c).value();
  }
  SparseTable& Table(uint32_t s) { return *handlers[s]->shard().FindTable("emb"); }

  zmq::context_t ctx;
  SlotMap slots = *SlotMap::Even(1, 1);
  std::unique_ptr<SparseHandler> handlers[2];
  std::string endpoints[2];
  zmq::socket_t sockets[2];
  std::thread threads[2];
  std::atomic<bool> stop{false};
};

std::vector<uint64_t> Ids(size_t n) {
  std::vector<uint64_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = Mix64(i + 1000);
  return ids;
}

TEST_CASE("Sparse PS: ASP pull and push over two shards match one local table", "[ps]") {
  TwoShards ps(Consistency::kAsp);
  auto client = ps.Client();
  auto local = SparseTable::Create(EmbTable());
  REQUIRE(local.ok());
  const std::vector<uint64_t> ids = Ids(300);
  std::vector<float> rows(ids.size() * 4), expect(ids.size() * 4);
  REQUIRE(client->Pull("emb", ids, 4, 0, {}, rows.data()).ok());
  (*local)->Pull(ids, expect.data());
  CHECK(rows == expect);
  std::vector<float> grads(ids.size() * 4);
  for (size_t i = 0; i < grads.size(); ++i) grads[i] = float(i % 11) - 5.0f;
  for (uint64_t clock = 0; clock < 3; ++clock) {
    REQUIRE(client->Push("emb", ids, 4, grads.data(), 8, {0, clock, 0}).ok());
    REQUIRE((*local)->Push(ids, grads.data(), 1.0f / 8, clock).ok());
  }
  REQUIRE(client->Pull("emb", ids, 4, 0, {}, rows.data()).ok());
  (*local)->Pull(ids, expect.data());
  CHECK(rows == expect);
  ps.Stop();
  // Each shard holds exactly its own ids.
  CHECK(ps.Table(0).stats().rows + ps.Table(1).stats().rows == ids.size());
  CHECK(ps.Table(0).stats().rows > 100);
  for (uint64_t id : ids) CHECK((ps.Table(ps.slots.ShardOfId(id)).FindRow(id) != nullptr));
}

TEST_CASE("Sparse PS: BSP defers a pull until every worker pushed the clock", "[ps]") {
  TwoShards ps(Consistency::kBsp, 2);
  auto w0 = ps.Client(true), reader = ps.Client();
  std::vector<uint64_t> ids;  // ids of shard 0
  for (uint64_t id : Ids(200))
    if (ps.slots.ShardOfId(id) == 0) ids.push_back(id);
  std::vector<float> before(ids.size() * 4);
  REQUIRE(reader->Pull("emb", ids, 4, 0, {}, before.data()).ok());
  std::vector<float> grads(ids.size() * 4, 1.0f);
  REQUIRE(w0->Push("emb", ids, 4, grads.data(), 1, {0, 0, 0}).ok());
  // On one DEALER (so shard 0 reads them in this order): a pull for version
  // 1, then worker 1's empty push of clock 0, which completes the clock.
  zmq::socket_t raw(ps.ctx, zmq::socket_type::dealer);
  raw.connect(ps.endpoints[0]);
  OutMessage pull;
  pull.envelope().setRequestId(1);
  auto preq = pull.envelope().getBody().initSparsePullRequest();
  preq.setTable("emb");
  auto list = preq.initIds(uint32_t(ids.size()));
  for (uint32_t i = 0; i < ids.size(); ++i) list.set(i, ids[i]);
  preq.setMinVersion(1);
  REQUIRE(SendMessage(raw, pull).ok());
  OutMessage push;
  push.envelope().setRequestId(2);
  auto qreq = push.envelope().getBody().initSparsePushRequest();
  qreq.setTable("emb");
  qreq.setRank(1);
  push.AddFloatsCopy(nullptr, 0);
  REQUIRE(SendMessage(raw, push).ok());
  std::vector<uint64_t> order;
  std::vector<float> after;
  while (order.size() < 2) {
    REQUIRE(WaitReadable(raw, std::chrono::milliseconds(10000)).ok());
    InMessage reply;
    REQUIRE(RecvMessage(raw, false, {}, &reply).ok());
    order.push_back(reply.envelope().getRequestId());
    auto body = reply.envelope().getBody();
    if (body.isSparsePullResponse()) {
      REQUIRE(FromRpcStatus(body.getSparsePullResponse().getStatus()).ok());
      CHECK(body.getSparsePullResponse().getVersion() == 1);
      after.assign(reply.floats(0), reply.floats(0) + reply.num_floats(0));
    } else {
      REQUIRE(body.isSparsePushResponse());
      CHECK(FromRpcStatus(body.getSparsePushResponse().getStatus()).ok());
    }
  }
  CHECK(order == std::vector<uint64_t>{2, 1});  // the pull waited for the push
  REQUIRE(after.size() == before.size());
  for (size_t i = 0; i < after.size(); ++i) CHECK(after[i] < before[i]);  // adagrad stepped
}

TEST_CASE("Sparse PS: bad requests get an error reply and change nothing", "[ps]") {
  TwoShards ps(Consistency::kAsp);
  auto client = ps.Client();
  const std::vector<uint64_t> ids = Ids(20);
  std::vector<float> grads(ids.size() * 8, 1.0f), rows(ids.size() * 8);
  CHECK(client->Push("nope", ids, 4, grads.data(), 1, {}).code() == StatusCode::kNotFound);
  CHECK(client->Push("emb", ids, 8, grads.data(), 1, {}).code() ==
        StatusCode::kInvalidArgument);  // dim mismatch: 8 floats per id
  CHECK(client->Pull("emb", ids, 8, 0, {}, rows.data()).code() == StatusCode::kInvalidArgument);
  std::vector<uint64_t> twice = {ids[0], ids[0]};
  CHECK_FALSE(client->Push("emb", twice, 4, grads.data(), 1, {}).ok());
  CHECK(client->Push("emb", ids, 4, grads.data(), 1, {0, 0, 7}).code() == StatusCode::kAborted);

  // Ids sent straight to the shard that does not own them.
  SparseClientOptions wrong;
  wrong.endpoints = {ps.endpoints[1], ps.endpoints[0]};  // shards swapped
  wrong.slot_map = ps.slots;
  auto misrouted = SparseClient::Create(ps.ctx, wrong);
  REQUIRE(misrouted.ok());
  CHECK((*misrouted)->Push("emb", ids, 4, grads.data(), 1, {}).code() ==
        StatusCode::kInvalidArgument);

  // Garbage and a dense request on the same socket.
  zmq::socket_t raw(ps.ctx, zmq::socket_type::dealer);
  raw.connect(ps.endpoints[0]);
  raw.send(zmq::str_buffer("not capnp"), zmq::send_flags::none);
  OutMessage dense;
  dense.envelope().setRequestId(5);
  dense.envelope().getBody().initPullRequest();
  REQUIRE(SendMessage(raw, dense).ok());
  int answered = 0;
  for (int i = 0; i < 2; ++i) {
    REQUIRE(WaitReadable(raw, std::chrono::milliseconds(5000)).ok());
    InMessage reply;
    if (RecvMessage(raw, false, {}, &reply).ok() && reply.envelope().getBody().isError()) ++answered;
  }
  CHECK(answered == 2);
  ps.Stop();
  CHECK(ps.Table(0).stats().rows == 0);
  CHECK(ps.Table(1).stats().rows == 0);
}

}  // namespace
}  // namespace pst
