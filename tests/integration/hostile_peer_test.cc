// Integration test: a peer that sends garbage and requests it has no business
// sending, to a live scheduler and a live PS of a real local cluster, gets
// error replies, and the job still ends with the model a run without it gets
// (BSP with one worker is deterministic).
#include <random>
#include <regex>
#include <string>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "cli/status_command.h"
#include "common/wire.h"
#include "tests/integration/harness.h"

namespace pst {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::MakeTempDir;
using testing::ReadFile;
using testing::RunPstrain;

// A raw DEALER connection that sends what the test says and reads one answer.
class RawPeer {
 public:
  explicit RawPeer(const std::string& endpoint) : socket_(ctx_, zmq::socket_type::dealer) {
    REQUIRE(ConfigureSocket(socket_).ok());
    socket_.connect(endpoint);
  }
  // Sends frames as they are (no pstrain framing).
  void SendRaw(const std::vector<std::string>& frames) {
    for (size_t i = 0; i < frames.size(); ++i) {
      zmq::message_t m(frames[i].data(), frames[i].size());
      socket_.send(m, i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  }
  void Send(OutMessage& msg) { REQUIRE(SendMessage(socket_, msg).ok()); }
  // The next answer within 5 s; fails the test if none comes.
  InMessage Answer() {
    REQUIRE(WaitReadable(socket_, milliseconds(5000)).ok());
    InMessage in;
    Status s = RecvMessage(socket_, /*routed=*/false, WireLimits{}, &in);
    INFO(s.ToString());
    REQUIRE(s.ok());
    return in;
  }

 private:
  zmq::context_t ctx_{1};
  zmq::socket_t socket_;
};

StatusCode ErrorCode(const InMessage& in) {
  auto body = in.envelope().getBody();
  if (body.isError()) return FromRpcStatus(body.getError()).code();
  if (body.isShardResponse()) return FromRpcStatus(body.getShardResponse().getStatus()).code();
  if (body.isPushResponse()) return FromRpcStatus(body.getPushResponse().getStatus()).code();
  if (body.isPullResponse()) return FromRpcStatus(body.getPullResponse().getStatus()).code();
  return StatusCode::kOk;
}

std::vector<std::string> Launch(const std::string& run_dir) {
  return {"pstrain", "launch", "--run-dir", run_dir, "--servers", "1", "--workers", "1",
          "--epochs", "2", "--train-limit", "12000", "--test-limit", "2000",
          "--progress", "lines", "--timeout-s", "120"};
}

double FinalAccuracy(const std::string& run_dir) {
  return nlohmann::json::parse(ReadFile(run_dir + "/result.json"))["final_test_accuracy"].get<double>();
}

TEST_CASE("Hostile peer: garbage and out-of-place requests get errors and change nothing",
          "[integration]") {
  const std::string clean_dir = MakeTempDir() + "/clean";
  auto clean = RunPstrain(Launch(clean_dir), seconds(150));
  INFO(clean.output);
  REQUIRE(clean.exit_code == 0);

  const std::string run_dir = MakeTempDir() + "/run";
  std::thread hostile([&] {
    testing::WaitForWorkerLoaded(run_dir, 0);
    auto sched_endpoint = ResolveSchedulerEndpoint("", run_dir);
    REQUIRE(sched_endpoint.ok());
    std::smatch m;
    const std::string ps_log = ReadFile(run_dir + "/logs/ps-0.log");
    REQUIRE(std::regex_search(ps_log, m, std::regex("serving (tcp://[0-9.:]+)")));
    const std::string ps_endpoint = m[1];

    std::mt19937 rng(5);
    std::string noise(200, '\0');
    for (char& c : noise) c = static_cast<char>(rng());
    for (const std::string& endpoint : {*sched_endpoint, ps_endpoint}) {
      RawPeer peer(endpoint);
      peer.SendRaw({noise});
      CHECK(ErrorCode(peer.Answer()) == StatusCode::kInvalidArgument);
      peer.SendRaw({std::string(16, '\0'), noise});  // an envelope of zero words, then bytes
      CHECK(ErrorCode(peer.Answer()) == StatusCode::kInvalidArgument);
    }

    RawPeer sched(*sched_endpoint);
    {
      OutMessage msg;  // a worker nobody registered
      auto req = msg.envelope().getBody().initShardRequest();
      req.setRank(99);
      req.setNumSamples(12000);
      sched.Send(msg);
      CHECK(ErrorCode(sched.Answer()) == StatusCode::kInvalidArgument);
    }
    {
      OutMessage msg;  // report-only requests are for ASP and SSP; this job is BSP
      auto req = msg.envelope().getBody().initShardRequest();
      req.setRank(0);
      req.setNumSamples(12000);
      req.setReportOnly(true);
      sched.Send(msg);
      CHECK(ErrorCode(sched.Answer()) == StatusCode::kInvalidArgument);
    }

    RawPeer ps(ps_endpoint);
    {
      OutMessage msg;  // keys past the model, and values that do not match them
      auto req = msg.envelope().getBody().initPushRequest();
      req.setRank(0);
      req.setKeyBegin(1u << 30);
      req.setKeyEnd((1u << 30) + 4);
      req.setSampleCount(1);
      const float vals[2] = {1e30f, -1e30f};
      msg.AddFloatsCopy(vals, 2);
      ps.Send(msg);
      CHECK(ErrorCode(ps.Answer()) != StatusCode::kOk);
    }
    {
      OutMessage msg;  // a pull whose range is backwards
      auto req = msg.envelope().getBody().initPullRequest();
      req.setKeyBegin(100);
      req.setKeyEnd(10);
      ps.Send(msg);
      CHECK(ErrorCode(ps.Answer()) != StatusCode::kOk);
    }
  });
  auto r = RunPstrain(Launch(run_dir), seconds(150));
  hostile.join();
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  // Nothing the peer sent reached the model or the schedule.
  CHECK(FinalAccuracy(run_dir) == FinalAccuracy(clean_dir));
  const auto result = nlohmann::json::parse(ReadFile(run_dir + "/result.json"));
  for (const auto& e : result["epochs"]) CHECK(e["samples"] == 12000);
  CHECK(ReadFile(run_dir + "/logs/scheduler.log").find("malformed message") != std::string::npos);
  testing::RequireNoOrphans(run_dir);
}

}  // namespace
}  // namespace pst
