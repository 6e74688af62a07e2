// Integration test: a job secured with a cluster key (pstrain launch --secure:
// CurveZMQ on every socket, a ZAP handler on every server) trains as a plain
// job does, and an intruder without the key, with another cluster's key, or
// with a key of its own and the servers' public key cannot register, pull,
// push, scale or checkpoint: each attempt is refused, counted and logged, and
// the job's final model is bit-identical to a plain run without an intruder
// (BSP with one worker is deterministic).
#include <signal.h>
#include <sys/stat.h>

#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "cli/status_command.h"
#include "common/channel.h"
#include "common/cluster_keys.h"
#include "proto/scheduler.capnp.h"
#include "tests/integration/harness.h"

namespace pst {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::CommandResult;
using testing::MakeTempDir;
using testing::ReadFile;
using testing::RunPstrain;

std::vector<std::string> Launch(const std::string& run_dir, bool secure) {
  std::vector<std::string> a{"pstrain", "launch", "--run-dir", run_dir, "--servers", "1",
                             "--workers", "1", "--epochs", "2", "--train-limit", "12000",
                             "--test-limit", "2000", "--progress", "lines", "--timeout-s", "120",
                             // The test pauses the worker for a few seconds.
                             "--heartbeat-timeout-ms", "60000"};
  if (secure) a.push_back("--secure");
  return a;
}

// Polls `done` every 20 ms for up to 30 s.
bool WaitFor(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return true;
}

// The value of a /metrics sample such as
// `pstrain_refused_connections_total{role="ps",rank="0",reason="handshake"}`.
double MetricValue(const std::string& metrics, const std::string& sample) {
  const size_t at = metrics.find("\n" + sample + " ");
  if (at == std::string::npos) return -1;
  return std::stod(metrics.substr(at + sample.size() + 2));
}

// An intruder: the keys it connects with (null: plain TCP), and the key
// directory its pstrain binaries get ("" = none; nullopt: it has no key
// directory the binaries would accept, so it uses its own client only).
struct Intruder {
  std::string name;
  std::shared_ptr<const ClusterKeys> keys;
  std::optional<std::string> key_dir;
};

// Waits up to 1.5 s for an answer to any of `ids` on `channel`.
bool AnyAnswered(Channel& channel, const std::vector<StatusOr<uint64_t>>& ids) {
  // A refused handshake delivers nothing either way; an admitted one would be
  // answered (kAborted, kInvalidArgument, ...) within milliseconds.
  Channel* polled = &channel;
  PollChannels(&polled, 1, milliseconds(1500));
  bool any = false;
  for (const auto& id : ids) {
    REQUIRE(id.ok());
    any = any || channel.HasReply(*id);
  }
  return any;
}

// Register (as a worker and as PS 0), scale and checkpoint requests to the
// scheduler over a channel with `curve`; true if any is answered.
bool SchedulerAnswersRawRequests(const std::string& endpoint, const ClusterKeys* curve) {
  zmq::context_t ctx(1);
  auto channel = Channel::Connect(ctx, endpoint, {}, curve);
  REQUIRE(channel.ok());
  std::vector<StatusOr<uint64_t>> ids;
  for (proto::Role role : {proto::Role::WORKER, proto::Role::SERVER}) {
    OutMessage reg;
    auto req = reg.envelope().getBody().initRegisterRequest();
    req.setRole(role);
    req.setEndpoint(role == proto::Role::SERVER ? "tcp://127.0.0.1:1" : "");
    req.setShardId(role == proto::Role::SERVER ? 0 : -1);
    ids.push_back((*channel)->Send(reg));
  }
  OutMessage scale;
  scale.envelope().getBody().initScaleRequest().setWorkers(3);
  ids.push_back((*channel)->Send(scale));
  OutMessage ckpt;
  ckpt.envelope().getBody().initCheckpointRequest().setTimeoutMs(1000);
  ids.push_back((*channel)->Send(ckpt));
  return AnyAnswered(**channel, ids);
}

// Pull and push requests to the PS over a channel with `curve`; true if any is answered.
bool PsAnswersRawRequests(const std::string& ps_endpoint, const ClusterKeys* curve) {
  zmq::context_t ctx(1);
  auto channel = Channel::Connect(ctx, ps_endpoint, {}, curve);
  REQUIRE(channel.ok());
  OutMessage pull;
  auto preq = pull.envelope().getBody().initPullRequest();
  preq.setKeyBegin(0);
  preq.setKeyEnd(4);
  std::vector<StatusOr<uint64_t>> ids;
  ids.push_back((*channel)->Send(pull));
  OutMessage push;
  auto qreq = push.envelope().getBody().initPushRequest();
  qreq.setRank(0);
  qreq.setKeyBegin(0);
  qreq.setKeyEnd(4);
  qreq.setSampleCount(1);
  const float vals[4] = {1e30f, -1e30f, 1e30f, -1e30f};
  push.AddFloatsCopy(vals, 4);
  ids.push_back((*channel)->Send(push));
  return AnyAnswered(**channel, ids);
}

TEST_CASE("Secure cluster: intruders without the cluster key are refused and change nothing",
          "[integration]") {
  const std::string clean_dir = MakeTempDir() + "/clean";
  CommandResult clean = RunPstrain(Launch(clean_dir, /*secure=*/false), seconds(150));
  INFO(clean.output);
  REQUIRE(clean.exit_code == 0);

  const std::string tmp = MakeTempDir();
  const std::string run_dir = tmp + "/run";
  // Another cluster's keys.
  const std::string other_keys = tmp + "/other-keys";
  REQUIRE(RunPstrain({"pstrain", "keygen", other_keys}, seconds(20)).exit_code == 0);
  auto other = LoadClusterKeys(other_keys);
  REQUIRE(other.ok());

  std::thread intruders([&] {
    testing::WaitForWorkerLoaded(run_dir, 0);
    // Hold the job still while the intruders try (BSP with one worker waits
    // for it), so that every attempt meets a live scheduler and PS.
    const std::vector<pid_t> worker = testing::ProcessesMentioning(run_dir + "/model.safetensors");
    REQUIRE(worker.size() == 1);
    REQUIRE(::kill(worker[0], SIGSTOP) == 0);
    struct Resume {
      pid_t pid;
      ~Resume() { ::kill(pid, SIGCONT); }
    } resume{worker[0]};

    // A key pair of the intruder's own beside the servers' public key (which
    // is public: assume the intruder has it). No key directory holds such a
    // mix, so only the intruder's own client uses it.
    auto cluster = LoadClusterKeys(run_dir + "/keys");
    REQUIRE(cluster.ok());
    auto crafted = GenerateClusterKeys();
    REQUIRE(crafted.ok());
    crafted->server_public = cluster->server_public;

    auto sched = ResolveSchedulerEndpoint("", run_dir);
    REQUIRE(sched.ok());
    std::smatch m;
    const std::string ps_log = ReadFile(run_dir + "/logs/ps-0.log");
    REQUIRE(std::regex_search(ps_log, m, std::regex("serving (tcp://[0-9.:]+)")));
    const std::string ps_endpoint = m[1];

    const std::vector<Intruder> intruders = {
        {"no key", nullptr, std::string()},
        {"another cluster's key", std::make_shared<const ClusterKeys>(*other), other_keys},
        {"own key + the servers' public key", std::make_shared<const ClusterKeys>(*crafted), std::nullopt}};
    for (const Intruder& who : intruders) {
      INFO(who.name);
      // Register (a worker and a PS), scale and checkpoint, as the real binaries.
      std::vector<std::future<CommandResult>> attempts;
      if (who.key_dir) {
        auto run = [&](std::vector<std::string> argv) {
          if (!who.key_dir->empty()) argv.insert(argv.end(), {"--key-dir", *who.key_dir});
          attempts.push_back(std::async(std::launch::async, [argv] { return RunPstrain(argv, seconds(60)); }));
        };
        run({"pstrain-worker", "--scheduler", *sched, "--connect-timeout-ms", "1500"});
        run({"pstrain-ps", "--scheduler", *sched, "--shard-id", "0", "--connect-timeout-ms", "1500"});
        run({"pstrain", "scale", "--scheduler", *sched, "--workers", "3"});
        run({"pstrain", "checkpoint", "--scheduler", *sched, "--timeout-s", "1"});
      }
      // The same, and pull and push on the PS, from a client of its own.
      CHECK_FALSE(SchedulerAnswersRawRequests(*sched, who.keys.get()));
      CHECK_FALSE(PsAnswersRawRequests(ps_endpoint, who.keys.get()));
      for (auto& attempt : attempts) {
        const CommandResult r = attempt.get();
        INFO(r.output);
        CHECK(r.exit_code != 0);
        CHECK(r.exit_code != -1);
      }
    }
    // Counted by the scheduler and the PS (its counts arrive with its
    // heartbeats), and logged by both.
    const std::string admin_url = ReadFile(run_dir + "/scheduler.endpoint.admin");
    const std::string metrics_url = admin_url.substr(0, admin_url.find_last_not_of("\n/") + 1) + "/metrics";
    std::string metrics;
    CHECK(WaitFor([&] {
      metrics = testing::HttpGet(metrics_url).body;
      for (const std::string server : {"role=\"scheduler\",rank=\"0\"", "role=\"ps\",rank=\"0\""}) {
        const std::string refused = "pstrain_refused_connections_total{" + server + ",reason=";
        if (MetricValue(metrics, refused + "\"handshake\"}") < 2 ||
            MetricValue(metrics, refused + "\"client_key\"}") < 1)
          return false;
      }
      return true;
    }));
    INFO(metrics);
    CHECK(ReadFile(run_dir + "/logs/scheduler.log").find("is not this cluster's") != std::string::npos);

    // The admin endpoint: pages stay open, POSTs need the job's token.
    const std::string base = metrics_url.substr(0, metrics_url.size() - std::string("/metrics").size());
    CHECK(testing::HttpGet(base + "/status").status == 200);
    for (const std::string& auth : {std::string(), "Bearer " + other->admin_token, std::string("Bearer x")}) {
      INFO(auth);
      CHECK(testing::HttpRequest("POST", base + "/scale?workers=3", auth).status == 401);
      CHECK(testing::HttpRequest("POST", base + "/checkpoint?timeout_s=1", auth).status == 401);
    }
    CHECK(ReadFile(run_dir + "/logs/scheduler.log").find("refused an unauthorised POST /scale") !=
          std::string::npos);
    CHECK(ReadFile(run_dir + "/logs/ps-0.log").find("refused a connection") != std::string::npos);

    // The job's own key still works, from the run directory.
    StatusCommandOptions so;
    so.run_dir = run_dir;
    auto status = FetchJobStatus(so);
    REQUIRE(status.ok());
    CHECK(status->desired_workers == 1);
    CHECK(status->checkpoints.empty());
  });
  CommandResult r = RunPstrain(Launch(run_dir, /*secure=*/true), seconds(180));
  intruders.join();
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  // Nothing of the intruders reached the model, the schedule or the roster.
  const std::string model = ReadFile(run_dir + "/model.safetensors");
  REQUIRE(!model.empty());
  CHECK(model == ReadFile(clean_dir + "/model.safetensors"));
  const auto result = nlohmann::json::parse(ReadFile(run_dir + "/result.json"));
  const auto clean_result = nlohmann::json::parse(ReadFile(clean_dir + "/result.json"));
  CHECK(result["final_test_accuracy"] == clean_result["final_test_accuracy"]);
  CHECK(result.at("complete_checkpoints") == clean_result.at("complete_checkpoints"));
  for (const auto& e : result["epochs"]) CHECK(e["samples"] == 12000);
  testing::RequireNoOrphans(run_dir);
}

TEST_CASE("Secure cluster: bad key directories stop every binary with one line", "[integration]") {
  const std::string tmp = MakeTempDir();
  const std::string keys = tmp + "/keys";
  CommandResult gen = RunPstrain({"pstrain", "keygen", keys}, seconds(20));
  INFO(gen.output);
  REQUIRE(gen.exit_code == 0);
  CHECK(RunPstrain({"pstrain", "keygen", keys}, seconds(20)).exit_code != 0);  // never overwritten
  REQUIRE(::chmod(keys.c_str(), 0755) == 0);
  for (std::vector<std::string> argv :
       {std::vector<std::string>{"pstrain-scheduler"}, {"pstrain-ps", "--scheduler", "tcp://127.0.0.1:1"},
        {"pstrain-worker", "--scheduler", "tcp://127.0.0.1:1"},
        {"pstrain", "status", "--scheduler", "tcp://127.0.0.1:1"},
        {"pstrain", "scale", "--scheduler", "tcp://127.0.0.1:1", "--workers", "2"},
        {"pstrain", "checkpoint", "--scheduler", "tcp://127.0.0.1:1"},
        {"pstrain", "launch", "--run-dir", tmp + "/run"},
        {"pstrain", "drill", "kill-worker", "--run-dir", tmp + "/drill"}}) {
    argv.insert(argv.end(), {"--key-dir", keys});
    CommandResult r = RunPstrain(argv, seconds(30));
    INFO(argv[0] + " " + argv[1]);
    INFO(r.output);
    CHECK(r.exit_code != 0);
    CHECK(r.output.find("chmod 700 " + keys) != std::string::npos);
  }
}

}  // namespace
}  // namespace pst
