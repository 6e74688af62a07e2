// pst::PsClient against a scripted server: a ROUTER socket on loopback TCP in
// the test thread that answers pulls with values the test chooses, so the
// client's bookkeeping (two pulls into two buffers, block order, stale
// answers) is checked without a real PS.
#include "worker/ps_client.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "common/bind.h"
#include "common/wire.h"

namespace pst {
namespace {

using std::chrono::milliseconds;

struct PullSeen {
  zmq::message_t identity;
  uint64_t request_id;
  KeyRange keys;
  uint64_t min_version;
  uint64_t clock;
};

class ScriptedServer {
 public:
  ScriptedServer() {
    auto bound = BindRouter(ctx_, "127.0.0.1", 0, "", WireLimits{});
    REQUIRE(bound.ok());
    socket_ = std::move(bound->socket);
    endpoint_ = bound->endpoint;
  }
  const std::string& endpoint() const { return endpoint_; }

  // Receives the next pull request, or a push that asks for its pull (waits
  // up to 5 s); `gradient` gets a push's first value.
  PullSeen NextPull(float* gradient = nullptr) {
    REQUIRE(WaitReadable(socket_, milliseconds(5000)).ok());
    InMessage in;
    REQUIRE(RecvMessage(socket_, /*routed=*/true, WireLimits{}, &in).ok());
    auto body = in.envelope().getBody();
    const uint64_t id = in.envelope().getRequestId();
    if (body.isPushRequest()) {
      auto push = body.getPushRequest();
      REQUIRE(push.getThenPull());
      REQUIRE(in.num_bulk_frames() == 1);
      if (gradient) *gradient = in.floats(0)[0];
      return {std::move(in.identity()), id, KeyRange{push.getKeyBegin(), push.getKeyEnd()},
              push.getPullMinVersion(), push.getClock() + 1};
    }
    REQUIRE(body.isPullRequest());
    auto req = body.getPullRequest();
    return {std::move(in.identity()), id, KeyRange{req.getKeyBegin(), req.getKeyEnd()},
            req.getMinVersion(), req.getClock()};
  }

  // Answers `pull` with every value equal to `value`, at `version`.
  void Answer(PullSeen& pull, float value, uint64_t version, uint64_t slowest = UINT64_MAX) {
    OutMessage out;
    out.envelope().setRequestId(pull.request_id);
    auto resp = out.envelope().getBody().initPullResponse();
    SetRpcStatus(Status::OK(), resp.initStatus());
    resp.setKeyBegin(pull.keys.begin);
    resp.setKeyEnd(pull.keys.end);
    resp.setVersion(version);
    resp.setSlowestClock(slowest);
    const std::vector<float> values(pull.keys.size(), value);
    out.AddFloatsCopy(values.data(), values.size());
    REQUIRE(SendMessage(socket_, out, &pull.identity).ok());
  }

 private:
  zmq::context_t ctx_{1};
  zmq::socket_t socket_;
  std::string endpoint_;
};

// A scripted server and a client of `keys` keys in blocks of `block_keys`.
struct Setup {
  Setup(uint64_t keys, uint64_t block_keys) {
    auto c = PsClient::Connect(ctx, {{0, server.endpoint(), KeyRange{0, keys}}}, block_keys);
    REQUIRE(c.ok());
    client = std::move(c).value();
  }
  ScriptedServer server;
  zmq::context_t ctx{1};
  std::unique_ptr<PsClient> client;
};

// A started pull, or the test fails.
PullHandle Started(StatusOr<PullHandle> pull) {
  REQUIRE(pull.ok());
  REQUIRE(pull->valid());
  return *pull;
}

// EnsurePull of `target` (reusing the pull under way) returns target's
// min_version after waiting for all of it, and every value is `value`.
void RequirePulled(PsClient& client, std::vector<float>& params, const PullTarget& target,
                   float value) {
  const PullHandle pull = Started(client.EnsurePull(target));
  auto got = client.WaitAll(pull, milliseconds(5000), nullptr);
  REQUIRE(got.ok());
  CHECK(*got == target.min_version);
  CHECK(params == std::vector<float>(params.size(), value));
}

PushSpec Push(uint64_t clock, const std::shared_ptr<std::vector<float>>& grad, uint32_t samples,
              PullTarget then_pull = {}) {
  PushSpec p;
  p.rank = 0;
  p.clock = clock;
  p.samples = samples;
  p.grad = grad->data();
  p.owner = grad;
  p.then_pull = then_pull;
  return p;
}

TEST_CASE("PsClient: two pulls in flight fill their own buffers", "[worker]") {
  Setup t(/*keys=*/10, /*block_keys=*/4);  // blocks of 4, 4, 2
  std::vector<float> a(10, 0.0f), b(10, 0.0f);

  const PullHandle pa = Started(t.client->StartPull({a.data(), /*clock=*/5, /*min_version=*/5}));
  const PullHandle pb = Started(t.client->StartPull({b.data(), 6, 4}));
  std::vector<PullSeen> pulls;
  for (int i = 0; i < 6; ++i) pulls.push_back(t.server.NextPull());
  // Three blocks each, in key order, carrying the clock each pull was made for.
  for (int i = 0; i < 6; ++i) CHECK(pulls[i].clock == (i < 3 ? 5u : 6u));
  CHECK(pulls[0].keys == KeyRange{0, 4});
  CHECK(pulls[2].keys == KeyRange{8, 10});
  CHECK(pulls[3].min_version == 4);

  // The second pull is answered first: only b changes, and a's wait still waits.
  for (int i = 3; i < 6; ++i) t.server.Answer(pulls[i], 2.0f, 4, /*slowest=*/4);
  REQUIRE(t.client->WaitKeys(pb, {0, 10}, milliseconds(5000), nullptr).ok());
  CHECK(b == std::vector<float>(10, 2.0f));
  CHECK(a == std::vector<float>(10, 0.0f));
  CHECK(t.client->WaitKeys(pa, {0, 4}, milliseconds(50), nullptr).code() ==
        StatusCode::kDeadlineExceeded);
  // Staleness is the pull's clock (6) minus the slowest clock (4).
  CHECK(t.client->max_staleness() == 2);

  // Only the block the caller needs has to be there.
  t.server.Answer(pulls[0], 1.0f, 5);
  REQUIRE(t.client->WaitKeys(pa, {0, 4}, milliseconds(5000), nullptr).ok());
  CHECK(a[0] == 1.0f);
  CHECK(a[4] == 0.0f);
  t.server.Answer(pulls[1], 1.0f, 5);
  t.server.Answer(pulls[2], 1.0f, 5);
  // The same target names the pull under way: nothing new is sent.
  CHECK(t.client->EnsurePull({a.data(), 5, 5}).ok());
  RequirePulled(*t.client, a, {a.data(), 5, 5}, 1.0f);
  CHECK(t.client->Values(pa) == a.data());
}

// Calls TakeArrived(target, keys) until a[probe] == want (up to 5 s).
void TakeUntil(PsClient& client, const PullTarget& target, KeyRange keys,
               const std::vector<float>& a, size_t probe, float want) {
  for (int i = 0; i < 500 && a[probe] != want; ++i) {
    REQUIRE(client.TakeArrived(target, keys).ok());
    if (a[probe] != want) std::this_thread::sleep_for(milliseconds(10));
  }
  REQUIRE(a[probe] == want);
}

TEST_CASE("PsClient: TakeArrived copies the answers arrived for blocks inside a range",
          "[worker]") {
  Setup t(/*keys=*/10, /*block_keys=*/4);  // blocks of 4, 4, 2
  std::vector<float> a(10, 0.0f);
  const PullTarget target{a.data(), /*clock=*/5, /*min_version=*/5};
  const PullHandle pa = Started(t.client->StartPull(target));
  std::vector<PullSeen> pulls;
  for (int i = 0; i < 3; ++i) pulls.push_back(t.server.NextPull());
  t.server.Answer(pulls[0], 1.0f, 5);
  t.server.Answer(pulls[1], 2.0f, 5);

  // [0, 6) holds block [0, 4) wholly, [4, 8) only in part: only the first lands.
  TakeUntil(*t.client, target, {0, 6}, a, 0, 1.0f);
  CHECK(a == std::vector<float>{1, 1, 1, 1, 0, 0, 0, 0, 0, 0});
  // Another pull's target (another clock) takes nothing.
  REQUIRE(t.client->TakeArrived({a.data(), 6, 5}, {0, 10}).ok());
  CHECK(a[4] == 0.0f);
  TakeUntil(*t.client, target, {3, 10}, a, 4, 2.0f);
  CHECK(a == std::vector<float>{1, 1, 1, 1, 2, 2, 2, 2, 0, 0});

  // What was taken early is not waited for again; the rest arrives as usual.
  t.server.Answer(pulls[2], 3.0f, 5);
  REQUIRE(t.client->WaitKeys(pa, {0, 10}, milliseconds(5000), nullptr).ok());
  CHECK(a == std::vector<float>{1, 1, 1, 1, 2, 2, 2, 2, 3, 3});
}

TEST_CASE("PsClient: a third buffer waits for a free pull slot", "[worker]") {
  Setup t(4, 4);
  std::vector<float> a(4), b(4), c(4);
  const PullHandle ha = Started(t.client->StartPull({a.data(), 0, 0}));
  const PullHandle hb = Started(t.client->StartPull({b.data(), 0, 0}));
  CHECK(t.client->StartPull({c.data(), 0, 0}).status().code() == StatusCode::kFailedPrecondition);
  // Once a's pull is complete its slot can serve c.
  PullSeen pa = t.server.NextPull();
  PullSeen pb = t.server.NextPull();
  t.server.Answer(pa, 3.0f, 0);
  REQUIRE(t.client->WaitKeys(ha, {0, 4}, milliseconds(5000), nullptr).ok());
  const PullHandle hc = Started(t.client->StartPull({c.data(), 0, 0}));
  // a's handle is stale now: its slot serves c.
  CHECK(t.client->WaitKeys(ha, {0, 4}, milliseconds(10), nullptr).code() ==
        StatusCode::kFailedPrecondition);
  CHECK(t.client->Values(ha) == nullptr);
  PullSeen pc = t.server.NextPull();
  t.server.Answer(pc, 7.0f, 0);
  t.server.Answer(pb, 5.0f, 0);
  REQUIRE(t.client->WaitKeys(hc, {0, 4}, milliseconds(5000), nullptr).ok());
  REQUIRE(t.client->WaitKeys(hb, {0, 4}, milliseconds(5000), nullptr).ok());
  CHECK(a == std::vector<float>(4, 3.0f));
  CHECK(b == std::vector<float>(4, 5.0f));
  CHECK(c == std::vector<float>(4, 7.0f));
}

TEST_CASE("PsClient: an empty handle names no pull", "[worker]") {
  Setup t(4, 4);
  CHECK(t.client->WaitKeys(PullHandle(), {0, 4}, milliseconds(10), nullptr).code() ==
        StatusCode::kFailedPrecondition);
  CHECK(t.client->WaitAll(PullHandle(), milliseconds(10), nullptr).status().code() ==
        StatusCode::kFailedPrecondition);
  CHECK(t.client->Values(PullHandle()) == nullptr);
  CHECK(t.client->StartPull({nullptr, 0, 0}).status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("PsClient: restarting a pull into a buffer drops the old answers", "[worker]") {
  Setup t(4, 4);
  std::vector<float> a(4, 0.0f);
  const PullHandle first = Started(t.client->StartPull({a.data(), 0, 1}));
  PullSeen old_pull = t.server.NextPull();
  // Another target for the same buffer replaces the pull.
  const PullHandle second = Started(t.client->EnsurePull({a.data(), 0, 2}));
  PullSeen new_pull = t.server.NextPull();
  CHECK(new_pull.min_version == 2);
  CHECK(t.client->Values(first) == nullptr);
  t.server.Answer(old_pull, 9.0f, 1);  // late answer to the dropped pull
  t.server.Answer(new_pull, 4.0f, 2);
  REQUIRE(t.client->WaitKeys(second, {0, 4}, milliseconds(5000), nullptr).ok());
  CHECK(a == std::vector<float>(4, 4.0f));
}

TEST_CASE("PsClient: a push can carry the pull of the next version into the buffer it reads",
          "[worker]") {
  Setup t(8, 4);  // two blocks
  std::vector<float> params(8, 0.0f);
  auto grad = std::make_shared<std::vector<float>>(8, 0.5f);
  const PullHandle now = Started(t.client->StartPull({params.data(), 3, 3}));
  PullSeen p0 = t.server.NextPull();
  PullSeen p1 = t.server.NextPull();
  // The step's push asks for version 4 into the same buffer its forward pass is
  // waiting for: that pull must not be dropped before the first block is sent.
  const PullTarget next{params.data(), 4, 4};
  t.client->BeginPush(Push(3, grad, 2, next));
  t.server.Answer(p0, 1.0f, 3);
  t.server.Answer(p1, 1.0f, 3);
  REQUIRE(t.client->WaitKeys(now, {0, 8}, milliseconds(5000), nullptr).ok());
  CHECK(params == std::vector<float>(8, 1.0f));
  REQUIRE(t.client->GradReady({0, 4}).ok());
  float gradient = 0;
  PullSeen q0 = t.server.NextPull(&gradient);
  CHECK(gradient == 0.5f);
  CHECK(q0.min_version == 4);
  CHECK(q0.clock == 4);
  // The push's pull replaced the step's in that buffer.
  CHECK(t.client->Values(now) == nullptr);
  const PullHandle carried = Started(t.client->EnsurePull(next));
  // A block whose push is not sent yet is missing, whatever arrived.
  t.server.Answer(q0, 2.0f, 4);
  CHECK(t.client->WaitKeys(carried, {4, 8}, milliseconds(50), nullptr).code() ==
        StatusCode::kDeadlineExceeded);
  REQUIRE(t.client->GradReady({4, 8}).ok());
  REQUIRE(t.client->EndPush().ok());
  PullSeen q1 = t.server.NextPull();
  t.server.Answer(q1, 2.0f, 4);
  // The answers also acknowledge the pushes.
  REQUIRE(t.client->WaitPushes(milliseconds(5000), nullptr).ok());
  RequirePulled(*t.client, params, next, 2.0f);
}

TEST_CASE("PsClient: an answer older than asked for is an error", "[worker]") {
  Setup t(4, 4);
  std::vector<float> a(4, 0.0f);
  const PullHandle h = Started(t.client->StartPull({a.data(), 0, 3}));
  PullSeen pull = t.server.NextPull();
  t.server.Answer(pull, 1.0f, 2);
  CHECK(t.client->WaitKeys(h, {0, 4}, milliseconds(5000), nullptr).code() ==
        StatusCode::kInvalidArgument);
  CHECK(a == std::vector<float>(4, 0.0f));
}

TEST_CASE("PsClient: pull views read a one-block answer in place until the next is taken",
          "[worker]") {
  Setup t(/*keys=*/64, /*block_keys=*/64);  // one block: views apply
  t.client->set_pull_views(true);
  REQUIRE(t.client->pull_views());
  std::vector<float> a(64, 0.0f);
  auto grad = std::make_shared<std::vector<float>>(64, 0.5f);
  const PullHandle h = Started(t.client->StartPull({a.data(), 1, 1}));
  // Before any answer the buffer itself is handed out.
  CHECK(t.client->Values(h) == a.data());
  PullSeen p = t.server.NextPull();
  t.server.Answer(p, 3.0f, 1);
  REQUIRE(t.client->WaitKeys(h, {0, 64}, milliseconds(5000), nullptr).ok());
  const float* view = t.client->Values(h);
  REQUIRE(view != a.data());
  CHECK(std::vector<float>(view, view + 64) == std::vector<float>(64, 3.0f));
  CHECK(a == std::vector<float>(64, 0.0f));  // nothing was copied into the buffer

  // The step's push asks for the next version into the same buffer; its
  // answer arrives, but the view holds the old values until it is taken.
  const PullTarget next{a.data(), 2, 2};
  t.client->BeginPush(Push(1, grad, 1, next));
  REQUIRE(t.client->GradReady({0, 64}).ok());
  REQUIRE(t.client->EndPush().ok());
  PullSeen q = t.server.NextPull();
  t.server.Answer(q, 4.0f, 2);
  for (int i = 0; i < 20; ++i) {
    CHECK(t.client->CollectPushAcks().ok());  // receives the answer, takes nothing
    std::this_thread::sleep_for(milliseconds(5));
  }
  const PullHandle carried = Started(t.client->EnsurePull(next));
  CHECK(t.client->Values(carried) == view);
  CHECK(std::vector<float>(view, view + 64) == std::vector<float>(64, 3.0f));
  auto got = t.client->WaitAll(carried, milliseconds(5000), nullptr);
  REQUIRE(got.ok());
  CHECK(*got == 2);
  const float* fresh = t.client->Values(carried);
  CHECK(std::vector<float>(fresh, fresh + 64) == std::vector<float>(64, 4.0f));
  CHECK(a == std::vector<float>(64, 0.0f));
}

TEST_CASE("PsClient: pull views are off for a model of several blocks", "[worker]") {
  Setup t(8, 4);
  t.client->set_pull_views(true);
  CHECK_FALSE(t.client->pull_views());
  std::vector<float> a(8, 0.0f);
  const PullHandle h = Started(t.client->StartPull({a.data(), 0, 0}));
  PullSeen p0 = t.server.NextPull();
  PullSeen p1 = t.server.NextPull();
  t.server.Answer(p0, 1.0f, 0);
  t.server.Answer(p1, 1.0f, 0);
  RequirePulled(*t.client, a, {a.data(), 0, 0}, 1.0f);
  CHECK(t.client->Values(h) == a.data());
}

}  // namespace
}  // namespace pst
