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
#include "tests/integration/raw_peer.h"

namespace pst {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::MakeTempDir;
using testing::RawPeer;
using testing::ReadFile;
using testing::RunPstrain;

// What the hostile thread sent and what came back; checked on the test's thread.
struct Probe {
  std::string what;
  Status answer;
};

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
  std::string setup_error;    // why the hostile thread could not start probing
  std::vector<Probe> probes;  // read after join
  std::thread hostile([&] {
    testing::WaitForWorkerLoaded(run_dir, 0);
    auto sched_endpoint = ResolveSchedulerEndpoint("", run_dir);
    if (!sched_endpoint.ok()) {
      setup_error = sched_endpoint.status().ToString();
      return;
    }
    std::smatch m;
    const std::string ps_log = ReadFile(run_dir + "/logs/ps-0.log");
    if (!std::regex_search(ps_log, m, std::regex("serving (tcp://[0-9.:]+)"))) {
      setup_error = "no 'serving' line in ps-0.log:\n" + ps_log;
      return;
    }
    const std::string ps_endpoint = m[1];
    zmq::context_t ctx(1);
    auto probe = [&probes](std::string what, Status sent, RawPeer& peer) {
      probes.push_back({std::move(what), sent.ok() ? peer.Answer() : sent.WithContext("send")});
    };

    std::mt19937 rng(5);
    std::string noise(200, '\0');
    for (char& c : noise) c = static_cast<char>(rng());
    for (const std::string& endpoint : {*sched_endpoint, ps_endpoint}) {
      RawPeer peer(ctx, endpoint);
      probe(endpoint + ": noise", peer.SendRaw({noise}), peer);
      // An envelope of zero words, then bytes.
      probe(endpoint + ": empty envelope", peer.SendRaw({std::string(16, '\0'), noise}), peer);
    }

    RawPeer sched(ctx, *sched_endpoint);
    {
      OutMessage msg;  // a worker nobody registered
      auto req = msg.envelope().getBody().initShardRequest();
      req.setRank(99);
      req.setNumSamples(12000);
      probe("shard request from an unknown rank", sched.Send(msg), sched);
    }
    {
      OutMessage msg;  // report-only requests are for ASP and SSP; this job is BSP
      auto req = msg.envelope().getBody().initShardRequest();
      req.setRank(0);
      req.setNumSamples(12000);
      req.setReportOnly(true);
      probe("report-only shard request under BSP", sched.Send(msg), sched);
    }

    // Each push is wrong in exactly one way, so each check is seen to work on
    // its own. Rank 0 is the live worker, and it may push clock 0.
    RawPeer ps(ctx, ps_endpoint);
    {
      OutMessage msg;  // keys inside the shard, but fewer values than keys
      auto req = msg.envelope().getBody().initPushRequest();
      req.setRank(0);
      req.setKeyBegin(0);
      req.setKeyEnd(4);
      req.setSampleCount(1);
      const float vals[2] = {1e30f, -1e30f};
      msg.AddFloatsCopy(vals, 2);
      probe("push of 2 values for 4 keys", ps.Send(msg), ps);
    }
    {
      OutMessage msg;  // as many values as keys, but the keys are past the model
      auto req = msg.envelope().getBody().initPushRequest();
      req.setRank(0);
      req.setKeyBegin(1u << 30);
      req.setKeyEnd((1u << 30) + 4);
      req.setSampleCount(1);
      const float vals[4] = {1e30f, -1e30f, 1e30f, -1e30f};
      msg.AddFloatsCopy(vals, 4);
      probe("push of keys past the model", ps.Send(msg), ps);
    }
    {
      OutMessage msg;  // a pull whose range is backwards
      auto req = msg.envelope().getBody().initPullRequest();
      req.setKeyBegin(100);
      req.setKeyEnd(10);
      probe("pull of a backwards range", ps.Send(msg), ps);
    }
  });
  auto r = RunPstrain(Launch(run_dir), seconds(150));
  hostile.join();
  INFO(r.output);
  REQUIRE(setup_error == "");
  // Each answer's code, and a phrase of the check that caught the request.
  const std::vector<std::pair<StatusCode, std::string>> want = {
      {StatusCode::kInvalidArgument, ""},  // garbage: whichever frame check comes first
      {StatusCode::kInvalidArgument, ""},
      {StatusCode::kInvalidArgument, ""},
      {StatusCode::kInvalidArgument, ""},
      {StatusCode::kInvalidArgument, "unknown worker rank 99"},
      {StatusCode::kInvalidArgument, "report-only shard requests are for ASP and SSP"},
      {StatusCode::kInvalidArgument, "2 values for keys"},
      {StatusCode::kInvalidArgument, "are not one block of this shard"},
      {StatusCode::kInvalidArgument, "are not inside this shard"},
  };
  REQUIRE(probes.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    INFO(probes[i].what << " -> " << probes[i].answer.ToString());
    CHECK(probes[i].answer.code() == want[i].first);
    CHECK(probes[i].answer.message().find(want[i].second) != std::string::npos);
  }
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
