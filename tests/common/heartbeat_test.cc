// pst::Heartbeater against a scripted scheduler (a ROUTER socket over
// inproc://): heartbeats carry what the fill function writes, answers set the
// job state and reach the reply function, Poke sends at once, silence counts
// as lost contact. Also run under ThreadSanitizer in CI (the fill and reply
// functions run on the heartbeat thread).
#include "common/heartbeat.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include "common/wire.h"

namespace pst {
namespace {

using namespace std::chrono_literals;

// The scheduler's side: receives heartbeats and answers the ones it is told to.
class FakeScheduler {
 public:
  explicit FakeScheduler(zmq::context_t& ctx, const std::string& endpoint)
      : socket_(ctx, zmq::socket_type::router) {
    socket_.bind(endpoint);
  }
  // The next heartbeat within `timeout` (its rank and clock), or nullopt.
  struct Beat {
    uint32_t rank = 0;
    uint64_t clock = 0;
    InMessage msg;
  };
  std::optional<Beat> Next(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      REQUIRE(WaitReadable(socket_, 10ms).ok());
      InMessage in;
      Status s = RecvMessage(socket_, /*routed=*/true, WireLimits{}, &in);
      if (s.code() == StatusCode::kUnavailable) continue;
      REQUIRE(s.ok());
      REQUIRE(in.envelope().getBody().isHeartbeatRequest());
      auto req = in.envelope().getBody().getHeartbeatRequest();
      return Beat{req.getRank(), req.getClock(), std::move(in)};
    }
    return std::nullopt;
  }
  void Answer(Beat& beat, proto::JobState state, uint32_t generation, uint64_t interval_ms = 0) {
    OutMessage out;
    out.envelope().setRequestId(beat.msg.envelope().getRequestId());
    auto resp = out.envelope().getBody().initHeartbeatResponse();
    resp.setState(state);
    resp.setGeneration(generation);
    resp.setHeartbeatIntervalMs(interval_ms);
    REQUIRE(SendMessage(socket_, out, &beat.msg.identity()).ok());
  }

 private:
  zmq::socket_t socket_;
};

struct Fixture {
  zmq::context_t ctx{1};
  std::string endpoint = "inproc://heartbeat-test";
  FakeScheduler scheduler{ctx, endpoint};
  std::atomic<uint64_t> clock{0};             // what the node reports
  std::atomic<uint32_t> seen_generation{0};   // what on_reply saw
  std::atomic<bool> job_ended{false};

  std::unique_ptr<Heartbeater> Start(HeartbeaterOptions o) {
    o.scheduler_endpoint = endpoint;
    o.set_on_job_end = &job_ended;
    auto hb = Heartbeater::Start(
        ctx, o,
        [this](proto::HeartbeatRequest::Builder b) {
          b.setRank(7);
          b.setClock(clock.load());
        },
        [this](proto::HeartbeatResponse::Reader r) { seen_generation = r.getGeneration(); });
    REQUIRE(hb.ok());
    return std::move(hb).value();
  }
};

// Polls `pred` (up to 10 s).
template <typename Pred>
bool Eventually(Pred pred) {
  for (int i = 0; i < 1000; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

TEST_CASE("Heartbeater: an empty endpoint is an error", "[common]") {
  zmq::context_t ctx{1};
  auto hb = Heartbeater::Start(ctx, HeartbeaterOptions{}, [](proto::HeartbeatRequest::Builder) {});
  CHECK(hb.status().code() == StatusCode::kInvalidArgument);
}

// The tests set a long interval and send beats with Poke, so each answer
// reaches the beat it answers: a beat the node has moved past is discarded.
TEST_CASE("Heartbeater: beats carry the node's fields and answers set the job state", "[common]") {
  Fixture f;
  HeartbeaterOptions o;
  o.interval = std::chrono::hours(1);
  f.clock = 3;
  auto hb = f.Start(o);
  CHECK(hb->job_state() == proto::JobState::FORMING);

  auto beat = f.scheduler.Next(10s);  // the first goes out at once
  REQUIRE(beat.has_value());
  CHECK(beat->rank == 7);
  CHECK(beat->clock == 3);
  f.scheduler.Answer(*beat, proto::JobState::RUNNING, 4);
  CHECK(Eventually([&] { return hb->job_state() == proto::JobState::RUNNING; }));
  CHECK(f.seen_generation == 4);
  CHECK_FALSE(f.job_ended);

  // Poke sends the next beat at once (the interval is an hour), and it reads
  // the fill function again.
  f.clock = 9;
  hb->Poke();
  auto later = f.scheduler.Next(10s);
  REQUIRE(later.has_value());
  CHECK(later->clock == 9);
  f.scheduler.Answer(*later, proto::JobState::DONE, 5);
  CHECK(Eventually([&] { return f.job_ended.load(); }));
  CHECK(hb->job_state() == proto::JobState::DONE);
  CHECK(f.seen_generation == 5);
  CHECK_FALSE(hb->lost_contact());
}

TEST_CASE("Heartbeater: an answer naming an interval changes the beat's pace at once", "[common]") {
  Fixture f;
  HeartbeaterOptions o;
  o.interval = std::chrono::hours(1);
  o.lost_after = std::chrono::hours(4);
  auto hb = f.Start(o);
  auto beat = f.scheduler.Next(10s);
  REQUIRE(beat.has_value());
  // No Poke: with the hour it started with, no second beat would come.
  f.scheduler.Answer(*beat, proto::JobState::RUNNING, 1, /*interval_ms=*/20);
  auto second = f.scheduler.Next(10s);
  REQUIRE(second.has_value());
  f.scheduler.Answer(*second, proto::JobState::RUNNING, 1);  // 0: keeps the 20 ms
  CHECK(f.scheduler.Next(10s).has_value());

  // An interval too long to tell the scheduler apart from a lost one is cut
  // to a quarter of lost_after.
  Fixture g;
  HeartbeaterOptions short_lost;
  short_lost.interval = std::chrono::hours(1);
  short_lost.lost_after = 200ms;
  auto hb2 = g.Start(short_lost);
  auto first = g.scheduler.Next(10s);
  REQUIRE(first.has_value());
  g.scheduler.Answer(*first, proto::JobState::RUNNING, 1, /*interval_ms=*/3'600'000);
  CHECK(g.scheduler.Next(10s).has_value());  // after 50 ms, not an hour
}

TEST_CASE("Heartbeater: a scheduler that stops answering counts as lost", "[common]") {
  Fixture f;
  HeartbeaterOptions o;
  o.interval = std::chrono::hours(1);
  o.lost_after = 100ms;
  auto hb = f.Start(o);
  auto beat = f.scheduler.Next(10s);
  REQUIRE(beat.has_value());
  f.scheduler.Answer(*beat, proto::JobState::RUNNING, 1);
  REQUIRE(Eventually([&] { return hb->job_state() == proto::JobState::RUNNING; }));
  // From here on beats go unanswered; each Poke ends a round, where silence
  // longer than lost_after is noticed.
  CHECK(Eventually([&] {
    hb->Poke();
    return hb->lost_contact();
  }));
  CHECK(hb->job_state() == proto::JobState::RUNNING);  // the last state reported stays
}

}  // namespace
}  // namespace pst
