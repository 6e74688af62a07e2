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

// Pull (reusing the pull under way into `params`) returns `version` and every
// value is `value`.
void RequirePulled(PsClient& client, std::vector<float>& params, uint64_t version, float value) {
  auto got = client.Pull(version, params.data(), milliseconds(5000), nullptr);
  REQUIRE(got.ok());
  CHECK(*got == version);
  CHECK(params == std::vector<float>(params.size(), value));
}

TEST_CASE("PsClient: two pulls in flight fill their own buffers", "[worker]") {
  Setup t(/*keys=*/10, /*block_keys=*/4);  // blocks of 4, 4, 2
  std::vector<float> a(10, 0.0f), b(10, 0.0f);

  t.client->set_clock(5);
  REQUIRE(t.client->StartPull(5, a.data()).ok());
  t.client->set_clock(6);
  REQUIRE(t.client->StartPull(4, b.data()).ok());
  std::vector<PullSeen> pulls;
  for (int i = 0; i < 6; ++i) pulls.push_back(t.server.NextPull());
  // Three blocks each, in key order, carrying the clock each pull was made for.
  for (int i = 0; i < 6; ++i) CHECK(pulls[i].clock == (i < 3 ? 5u : 6u));
  CHECK(pulls[0].keys == KeyRange{0, 4});
  CHECK(pulls[2].keys == KeyRange{8, 10});
  CHECK(pulls[3].min_version == 4);

  // The second pull is answered first: only b changes, and a's wait still waits.
  for (int i = 3; i < 6; ++i) t.server.Answer(pulls[i], 2.0f, 4, /*slowest=*/4);
  REQUIRE(t.client->WaitKeys(b.data(), {0, 10}, milliseconds(5000), nullptr).ok());
  CHECK(b == std::vector<float>(10, 2.0f));
  CHECK(a == std::vector<float>(10, 0.0f));
  CHECK(t.client->WaitKeys(a.data(), {0, 4}, milliseconds(50), nullptr).code() ==
        StatusCode::kDeadlineExceeded);
  // Staleness is the pull's clock (6) minus the slowest clock (4).
  CHECK(t.client->max_staleness() == 2);

  // Only the block the caller needs has to be there.
  t.server.Answer(pulls[0], 1.0f, 5);
  REQUIRE(t.client->WaitKeys(a.data(), {0, 4}, milliseconds(5000), nullptr).ok());
  CHECK(a[0] == 1.0f);
  CHECK(a[4] == 0.0f);
  t.server.Answer(pulls[1], 1.0f, 5);
  t.server.Answer(pulls[2], 1.0f, 5);
  t.client->set_clock(5);  // the clock a's pull was made at: Pull reuses it
  RequirePulled(*t.client, a, 5, 1.0f);
}

TEST_CASE("PsClient: a third buffer waits for a free pull slot", "[worker]") {
  Setup t(4, 4);
  std::vector<float> a(4), b(4), c(4);
  REQUIRE(t.client->StartPull(0, a.data()).ok());
  REQUIRE(t.client->StartPull(0, b.data()).ok());
  CHECK(t.client->StartPull(0, c.data()).code() == StatusCode::kFailedPrecondition);
  CHECK(t.client->WaitKeys(c.data(), {0, 4}, milliseconds(10), nullptr).code() ==
        StatusCode::kFailedPrecondition);
  // Once a's pull is complete its slot can serve c.
  PullSeen pa = t.server.NextPull();
  PullSeen pb = t.server.NextPull();
  t.server.Answer(pa, 3.0f, 0);
  REQUIRE(t.client->WaitKeys(a.data(), {0, 4}, milliseconds(5000), nullptr).ok());
  REQUIRE(t.client->StartPull(0, c.data()).ok());
  PullSeen pc = t.server.NextPull();
  t.server.Answer(pc, 7.0f, 0);
  t.server.Answer(pb, 5.0f, 0);
  REQUIRE(t.client->WaitKeys(c.data(), {0, 4}, milliseconds(5000), nullptr).ok());
  REQUIRE(t.client->WaitKeys(b.data(), {0, 4}, milliseconds(5000), nullptr).ok());
  CHECK(a == std::vector<float>(4, 3.0f));
  CHECK(b == std::vector<float>(4, 5.0f));
  CHECK(c == std::vector<float>(4, 7.0f));
}

TEST_CASE("PsClient: restarting a pull into a buffer drops the old answers", "[worker]") {
  Setup t(4, 4);
  std::vector<float> a(4, 0.0f);
  REQUIRE(t.client->StartPull(1, a.data()).ok());
  PullSeen old_pull = t.server.NextPull();
  REQUIRE(t.client->StartPull(2, a.data()).ok());
  PullSeen new_pull = t.server.NextPull();
  CHECK(new_pull.min_version == 2);
  t.server.Answer(old_pull, 9.0f, 1);  // late answer to the dropped pull
  t.server.Answer(new_pull, 4.0f, 2);
  REQUIRE(t.client->WaitKeys(a.data(), {0, 4}, milliseconds(5000), nullptr).ok());
  CHECK(a == std::vector<float>(4, 4.0f));
}

TEST_CASE("PsClient: a push can carry the pull of the next version into the buffer it reads",
          "[worker]") {
  Setup t(8, 4);  // two blocks
  std::vector<float> params(8, 0.0f);
  auto grad = std::make_shared<std::vector<float>>(8, 0.5f);
  t.client->set_clock(3);
  REQUIRE(t.client->StartPull(3, params.data()).ok());
  PullSeen p0 = t.server.NextPull();
  PullSeen p1 = t.server.NextPull();
  // The step's push asks for version 4 into the same buffer its forward pass is
  // waiting for: that pull must not be dropped before the first block is sent.
  t.client->BeginPush(0, 3, grad, grad->data(), 2, params.data(), 4);
  t.server.Answer(p0, 1.0f, 3);
  t.server.Answer(p1, 1.0f, 3);
  REQUIRE(t.client->WaitKeys(params.data(), {0, 8}, milliseconds(5000), nullptr).ok());
  CHECK(params == std::vector<float>(8, 1.0f));
  REQUIRE(t.client->GradReady({0, 4}).ok());
  float gradient = 0;
  PullSeen q0 = t.server.NextPull(&gradient);
  CHECK(gradient == 0.5f);
  CHECK(q0.min_version == 4);
  CHECK(q0.clock == 4);
  // A block whose push is not sent yet is missing, whatever arrived.
  t.server.Answer(q0, 2.0f, 4);
  t.client->set_clock(4);
  CHECK(t.client->WaitKeys(params.data(), {4, 8}, milliseconds(50), nullptr).code() ==
        StatusCode::kDeadlineExceeded);
  REQUIRE(t.client->GradReady({4, 8}).ok());
  REQUIRE(t.client->EndPush().ok());
  PullSeen q1 = t.server.NextPull();
  t.server.Answer(q1, 2.0f, 4);
  // The answers also acknowledge the pushes.
  REQUIRE(t.client->WaitPushes(milliseconds(5000), nullptr).ok());
  RequirePulled(*t.client, params, 4, 2.0f);
}

TEST_CASE("PsClient: an answer older than asked for is an error", "[worker]") {
  Setup t(4, 4);
  std::vector<float> a(4, 0.0f);
  REQUIRE(t.client->StartPull(3, a.data()).ok());
  PullSeen pull = t.server.NextPull();
  t.server.Answer(pull, 1.0f, 2);
  CHECK(t.client->WaitKeys(a.data(), {0, 4}, milliseconds(5000), nullptr).code() ==
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
  // Before any answer the buffer itself is handed out.
  CHECK(t.client->PulledValues(a.data()) == a.data());
  t.client->set_clock(1);
  REQUIRE(t.client->StartPull(1, a.data()).ok());
  PullSeen p = t.server.NextPull();
  t.server.Answer(p, 3.0f, 1);
  REQUIRE(t.client->WaitKeys(a.data(), {0, 64}, milliseconds(5000), nullptr).ok());
  const float* view = t.client->PulledValues(a.data());
  REQUIRE(view != a.data());
  CHECK(std::vector<float>(view, view + 64) == std::vector<float>(64, 3.0f));
  CHECK(a == std::vector<float>(64, 0.0f));  // nothing was copied into the buffer

  // The step's push asks for the next version into the same buffer; its
  // answer arrives, but the view holds the old values until it is taken.
  t.client->BeginPush(0, 1, grad, grad->data(), 1, a.data(), 2);
  REQUIRE(t.client->GradReady({0, 64}).ok());
  REQUIRE(t.client->EndPush().ok());
  PullSeen q = t.server.NextPull();
  t.server.Answer(q, 4.0f, 2);
  for (int i = 0; i < 20; ++i) {
    CHECK(t.client->CollectPushAcks().ok());  // receives the answer, takes nothing
    std::this_thread::sleep_for(milliseconds(5));
  }
  CHECK(t.client->PulledValues(a.data()) == view);
  CHECK(std::vector<float>(view, view + 64) == std::vector<float>(64, 3.0f));
  t.client->set_clock(2);
  auto got = t.client->Pull(2, a.data(), milliseconds(5000), nullptr);
  REQUIRE(got.ok());
  CHECK(*got == 2);
  const float* next = t.client->PulledValues(a.data());
  CHECK(std::vector<float>(next, next + 64) == std::vector<float>(64, 4.0f));
  CHECK(a == std::vector<float>(64, 0.0f));
}

TEST_CASE("PsClient: pull views are off for a model of several blocks", "[worker]") {
  Setup t(8, 4);
  t.client->set_pull_views(true);
  CHECK_FALSE(t.client->pull_views());
  std::vector<float> a(8, 0.0f);
  REQUIRE(t.client->StartPull(0, a.data()).ok());
  PullSeen p0 = t.server.NextPull();
  PullSeen p1 = t.server.NextPull();
  t.server.Answer(p0, 1.0f, 0);
  t.server.Answer(p1, 1.0f, 0);
  RequirePulled(*t.client, a, 0, 1.0f);
  CHECK(t.client->PulledValues(a.data()) == a.data());
}

}  // namespace
}  // namespace pst
