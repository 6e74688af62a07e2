// Durable state and failures on a real local cluster: checkpoints, export and
// eval, resuming a stopped job, scaling, and every `pstrain drill` scenario
// with a fault injected at a seeded random moment.
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "cli/checkpoint_model.h"
#include "common/safetensors.h"
#include "scheduler/job_store.h"
#include "tests/integration/harness.h"

namespace pst {
namespace {

using std::chrono::seconds;
using testing::CompleteCheckpoints;
using testing::MakeTempDir;
using testing::WaitForWorkerLoaded;
using testing::ReadFile;
using testing::RequireNoOrphans;
using testing::RunPstrain;

// A job short enough for a test, long enough for several checkpoints.
const std::vector<std::string> kJob = {"--epochs",      "2",    "--train-limit",
                                       "30000",         "--test-limit", "5000",
                                       "--checkpoint-every-steps", "60"};

std::vector<std::string> With(std::vector<std::string> head, const std::vector<std::string>& tail) {
  head.insert(head.end(), tail.begin(), tail.end());
  return head;
}

// Every complete checkpoint the PS still keep (checkpoint.keep, default 3, of
// the newest) reads back whole: none was lost or torn.
void RequireCheckpointsReadable(const std::string& run_dir) {
  const auto records = CompleteCheckpoints(run_dir);
  REQUIRE(!records.empty());
  const size_t keep = std::min<size_t>(3, records.size());
  for (size_t i = records.size() - keep; i < records.size(); ++i) {
    INFO("checkpoint " << records[i].id);
    auto model = LoadCheckpointModel(run_dir, records[i].id);
    INFO(model.status().ToString());
    CHECK(model.ok());
  }
}

TEST_CASE("Recovery: checkpoints are complete on every shard, export and eval read them",
          "[integration]") {
  const std::string run_dir = MakeTempDir() + "/run";
  auto r = RunPstrain(With({"pstrain", "launch", "--run-dir", run_dir, "--progress", "lines"}, kJob),
                      seconds(180));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const auto records = CompleteCheckpoints(run_dir);
  REQUIRE(records.size() >= 2);
  for (size_t i = 1; i < records.size(); ++i) {
    CHECK(records[i].id > records[i - 1].id);
    CHECK(records[i].clock > records[i - 1].clock);
  }
  RequireCheckpointsReadable(run_dir);

  const std::string out = run_dir + "/exported.safetensors";
  auto ex = RunPstrain({"pstrain", "export", run_dir, "--out", out}, seconds(60));
  INFO(ex.output);
  REQUIRE(ex.exit_code == 0);
  auto model = LoadCheckpointModel(run_dir, std::nullopt);
  REQUIRE(model.ok());
  CHECK(model->record.id == records.back().id);
  auto file = ReadSafetensors(out);
  REQUIRE(file.ok());
  size_t floats = 0;
  for (const auto& t : file->tensors) floats += t.values.size();
  CHECK(floats == model->params.size());

  auto ev = RunPstrain({"pstrain", "eval", run_dir, "--json"}, seconds(60));
  INFO(ev.output);
  REQUIRE(ev.exit_code == 0);
  auto j = nlohmann::json::parse(testing::LastLine(ev.output));
  CHECK(j["checkpoint"] == records.back().id);
  CHECK(j["accuracy"].get<double>() > 0.75);

  auto bad = RunPstrain({"pstrain", "eval", run_dir, "--checkpoint", "999999"}, seconds(30));
  CHECK(bad.exit_code == 1);
  CHECK(bad.output.find("999999") != std::string::npos);
  RequireNoOrphans(run_dir);
}

TEST_CASE("Recovery: a job stopped part-way resumes from its last complete checkpoint",
          "[integration]") {
  const std::string run_dir = MakeTempDir() + "/run";
  const std::vector<std::string> job = {"--epochs", "16", "--train-limit", "30000", "--test-limit",
                                        "5000", "--checkpoint-every-steps", "60"};
  // Interrupted (SIGINT: every process is stopped) once a checkpoint is
  // complete: a known point, however loaded the machine is.
  std::thread interrupter([&] {
    for (int i = 0; i < 1200; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (ReadFile(run_dir + "/logs/scheduler.log").find("checkpoint 2 complete") == std::string::npos) continue;
      for (pid_t p : testing::ProcessesMentioning(run_dir)) {
        const std::string cmdline = ReadFile("/proc/" + std::to_string(p) + "/cmdline");
        if (cmdline.find(std::string("pstrain") + '\0' + "launch") != std::string::npos) kill(p, SIGINT);
      }
      return;
    }
  });
  auto first = RunPstrain(With({"pstrain", "launch", "--run-dir", run_dir, "--progress", "lines"}, job),
                          seconds(120));
  interrupter.join();
  INFO(first.output);
  REQUIRE(first.exit_code == 130);
  RequireNoOrphans(run_dir);
  const auto before = CompleteCheckpoints(run_dir);
  REQUIRE(!before.empty());

  auto second = RunPstrain({"pstrain", "launch", "--run-dir", run_dir, "--progress", "lines"},
                           seconds(180));
  INFO(second.output);
  REQUIRE(second.exit_code == 0);
  CHECK(second.output.find("resuming the job") != std::string::npos);
  CHECK(ReadFile(run_dir + "/logs/ps-0.log").find("restored checkpoint " + std::to_string(before.back().id)) !=
        std::string::npos);
  auto result = nlohmann::json::parse(ReadFile(run_dir + "/result.json"));
  CHECK(result["resumed"] == true);
  REQUIRE(result["epochs"].size() == 16);
  CHECK(result["final_test_accuracy"].get<double>() > 0.8);
  CHECK(CompleteCheckpoints(run_dir).back().id > before.back().id);
  RequireNoOrphans(run_dir);
}

TEST_CASE("Recovery: pstrain checkpoint and pstrain scale steer a running job", "[integration]") {
  const std::string run_dir = MakeTempDir() + "/run";
  std::thread steer([&] {
    WaitForWorkerLoaded(run_dir, 1);
    auto c = RunPstrain({"pstrain", "checkpoint", "--run-dir", run_dir, "--timeout-s", "30"}, seconds(60));
    CHECK(c.exit_code == 0);
    CHECK(c.output.find("complete at clock") != std::string::npos);
    auto s = RunPstrain({"pstrain", "scale", "--run-dir", run_dir, "--workers", "3"}, seconds(30));
    CHECK(s.exit_code == 0);
    CHECK(s.output.find("scaling up from 2 to 3 workers") != std::string::npos);
  });
  auto r = RunPstrain({"pstrain", "launch", "--run-dir", run_dir, "--progress", "lines", "--epochs",
                       "4", "--checkpoint-every-steps", "0", "--heartbeat-ms", "100"},
                      seconds(180));
  steer.join();
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find("started worker 2") != std::string::npos);
  CHECK(ReadFile(run_dir + "/logs/scheduler.log").find("joined the running job") != std::string::npos);
  CHECK(CompleteCheckpoints(run_dir).size() >= 1);
  auto result = nlohmann::json::parse(ReadFile(run_dir + "/result.json"));
  for (const auto& e : result["epochs"]) CHECK(e["samples"] == 60000);
  RequireNoOrphans(run_dir);
}

// The command lines (NULs as spaces) of a run's live worker processes.
std::vector<std::string> WorkerCommandLines(const std::string& run_dir) {
  std::vector<std::string> found;
  for (pid_t p : testing::ProcessesMentioning(run_dir)) {
    std::string c = ReadFile("/proc/" + std::to_string(p) + "/cmdline");
    std::replace(c.begin(), c.end(), '\0', ' ');
    if (c.find("pstrain-worker ") != std::string::npos) found.push_back(c);
  }
  return found;
}

TEST_CASE("Elastic: with --step-delay-ms every worker sleeps, also one added by pstrain scale, "
          "and the added one trains",
          "[integration]") {
  const std::string run_dir = MakeTempDir() + "/run";
  std::vector<std::string> workers;  // command lines, once the scaled job runs two
  std::thread steer([&] {
    WaitForWorkerLoaded(run_dir, 0);
    auto s = RunPstrain({"pstrain", "scale", "--run-dir", run_dir, "--workers", "2"}, seconds(30));
    CHECK(s.exit_code == 0);
    for (int i = 0; i < 300 && workers.size() < 2; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      workers = WorkerCommandLines(run_dir);
    }
  });
  auto r = RunPstrain({"pstrain", "launch", "--run-dir", run_dir, "--progress", "lines", "--servers",
                       "1", "--workers", "1", "--step-delay-ms", "5", "--epochs", "4", "--train-limit",
                       "30000", "--test-limit", "2000", "--checkpoint-every-steps", "0",
                       "--heartbeat-ms", "100"},
                      seconds(180));
  steer.join();
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find("every worker sleeps 5 ms before each step") != std::string::npos);
  CHECK(r.output.find("started worker 1 (the job asks for 2 workers)") != std::string::npos);
  // Both workers, the launched one and the added one, got the delay.
  REQUIRE(workers.size() == 2);
  for (const std::string& w : workers) CHECK(w.find(" --step-delay-ms 5 ") != std::string::npos);
  // The added worker (rank 1) trained: its sample count in the last metrics line.
  std::string last;
  {
    std::istringstream lines(ReadFile(run_dir + "/metrics.jsonl"));
    for (std::string line; std::getline(lines, line);)
      if (line.find("\"type\":\"progress\"") != std::string::npos) last = line;
  }
  REQUIRE(!last.empty());
  const nlohmann::json progress = nlohmann::json::parse(last);
  uint64_t added_samples = 0;
  for (const auto& n : progress["nodes"])
    if (n["role"] == "worker" && n["rank"] == 1) added_samples = n["samples"].get<uint64_t>();
  CHECK(added_samples > 0);
  auto result = nlohmann::json::parse(ReadFile(run_dir + "/result.json"));
  CHECK(result["step_delay_ms"] == 5);
  // Rebalanced, not duplicated: every sample of an epoch trained exactly once.
  for (const auto& e : result["epochs"]) CHECK(e["samples"] == 30000);
  // The added worker entered the roster only once it had loaded its data and
  // asked for a shard, so the others never waited for its start-up.
  // Log lines start with a "YYYY-MM-DD HH:MM:SS.mmm" time, which sorts as text.
  auto line_time = [](const std::string& log, const std::string& what) -> std::string {
    const size_t at = log.find(what);
    if (at == std::string::npos) return "";
    const size_t start = log.rfind('\n', at);
    return log.substr(start == std::string::npos ? 0 : start + 1, 23);
  };
  const std::string sched = ReadFile(run_dir + "/logs/scheduler.log");
  CHECK(sched.find("joined the running job; it enters the roster when it asks for data") !=
        std::string::npos);
  const std::string ready = line_time(sched, "is ready; PS will wait for it from clock");
  const std::string loaded = line_time(ReadFile(run_dir + "/logs/worker-1.log"), "loaded ");
  REQUIRE_FALSE(ready.empty());
  REQUIRE_FALSE(loaded.empty());
  CHECK(loaded <= ready);
  RequireNoOrphans(run_dir);
}

TEST_CASE("Elastic: a bad --step-delay-ms is one line and exit code 2", "[integration]") {
  for (const char* bad : {"-1", "abc", "60001"}) {
    auto r = RunPstrain({"pstrain", "launch", "--step-delay-ms", bad}, seconds(20));
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK(r.output.find("--step-delay-ms: expected milliseconds in [0, 60000]") != std::string::npos);
    CHECK(std::count(r.output.begin(), r.output.end(), '\n') == 1);
  }
}

// The first live process whose command line holds both strings.
pid_t FindProcess(const std::string& run_dir, const std::string& what) {
  for (pid_t p : testing::ProcessesMentioning(run_dir)) {
    if (ReadFile("/proc/" + std::to_string(p) + "/cmdline").find(what) != std::string::npos) return p;
  }
  return 0;
}

TEST_CASE("Recovery: SIGTERM makes a worker hand back its lease and a PS leave cleanly",
          "[integration]") {
  const std::string run_dir = MakeTempDir() + "/run";
  std::thread stopper([&] {
    for (int i = 0; i < 300; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (ReadFile(run_dir + "/logs/scheduler.log").find("checkpoint 2 complete") != std::string::npos)
        break;
    }
    const pid_t worker = FindProcess(run_dir, "pstrain-worker");
    REQUIRE(worker > 0);
    kill(worker, SIGTERM);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const pid_t ps = FindProcess(run_dir, "ps-1");
    REQUIRE(ps > 0);
    kill(ps, SIGTERM);
  });
  auto r = RunPstrain(With({"pstrain", "launch", "--run-dir", run_dir, "--progress", "lines",
                            "--heartbeat-ms", "100", "--heartbeat-timeout-ms", "1000"},
                           {"--epochs", "4", "--train-limit", "30000", "--test-limit", "5000",
                            "--checkpoint-every-steps", "60"}),
                      seconds(180));
  stopper.join();
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  // The worker exited 0 (no "exited with status" for it) after leaving.
  CHECK(r.output.find("ps 1 left the running job; restarting it") != std::string::npos);
  const std::string sched = ReadFile(run_dir + "/logs/scheduler.log");
  CHECK(sched.find("the rest of its lease went back to the pool") != std::string::npos);
  CHECK(sched.find("PS 1 left: rolling back") != std::string::npos);
  CHECK(ReadFile(run_dir + "/logs/ps-1.log").find("restored checkpoint") != std::string::npos);
  auto result = nlohmann::json::parse(ReadFile(run_dir + "/result.json"));
  for (const auto& e : result["epochs"]) CHECK(e["samples"] == 30000);
  CHECK(result["rollbacks"].get<int>() >= 1);
  RequireNoOrphans(run_dir);
}

// True once the workers trained something (the /status totals say so).
bool Training(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  return !j.is_discarded() && j["totals"]["samples"].get<uint64_t>() > 0;
}

std::string SchedulerEndpoint(const std::string& run_dir) {
  std::string e = ReadFile(run_dir + "/scheduler.endpoint");
  while (!e.empty() && (e.back() == '\n' || e.back() == '\r')) e.pop_back();
  return e;
}

TEST_CASE("Recovery: a PS started for a shard whose PS is alive is refused, exits 1, and the job goes on",
          "[integration]") {
  const std::string run_dir = MakeTempDir() + "/run";
  testing::CommandResult intruder;
  std::thread operator_mistake([&] {
    if (testing::WaitForStatus(run_dir, Training, std::chrono::seconds(60)).empty()) return;
    // As the README says to replace a dead PS, but PS 0 is alive.
    intruder = RunPstrain({"pstrain-ps", "--scheduler", SchedulerEndpoint(run_dir), "--shard-id", "0",
                           "--bind", "127.0.0.1"},
                          seconds(60));
  });
  auto r = RunPstrain({"pstrain", "launch", "--run-dir", run_dir, "--progress", "lines", "--epochs", "2",
                       "--train-limit", "20000", "--test-limit", "2000", "--step-delay-ms", "5",
                       "--heartbeat-ms", "100", "--heartbeat-timeout-ms", "1000"},
                      seconds(180));
  operator_mistake.join();
  INFO(r.output);
  INFO(intruder.output);
  REQUIRE(r.exit_code == 0);
  CHECK(intruder.exit_code == 1);
  CHECK(intruder.output.find("shard 0 has a live PS") != std::string::npos);
  auto result = nlohmann::json::parse(ReadFile(run_dir + "/result.json"));
  CHECK(result["rollbacks"] == 0);
  for (const auto& e : result["epochs"]) CHECK(e["samples"] == 20000);
  CHECK(ReadFile(run_dir + "/logs/scheduler.log").find("refused a new PS for shard 0") != std::string::npos);
  RequireNoOrphans(run_dir);
}

TEST_CASE("Recovery: a replacement PS that dies before it restored is found dead and replaced again",
          "[integration]") {
  const std::string run_dir = MakeTempDir() + "/run";
  bool killed_both = false;
  std::thread killer([&] {
    const std::string body = testing::WaitForStatus(run_dir, Training, std::chrono::seconds(60));
    if (body.empty()) return;
    const pid_t first = FindProcess(run_dir, "ps-0");
    if (first <= 0) return;
    kill(first, SIGKILL);
    // The launcher starts a replacement; kill it once it registered, before
    // it can have restored (its restore follows the job it is sent then).
    for (int i = 0; i < 600; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      if (ReadFile(run_dir + "/logs/scheduler.log").find("registered as the replacement for shard 0") ==
          std::string::npos)
        continue;
      const pid_t second = FindProcess(run_dir, "ps-0");
      if (second > 0 && second != first) {
        kill(second, SIGKILL);
        killed_both = true;
      }
      return;
    }
  });
  auto r = RunPstrain({"pstrain", "launch", "--run-dir", run_dir, "--progress", "lines", "--epochs", "2",
                       "--train-limit", "20000", "--test-limit", "2000", "--step-delay-ms", "5",
                       "--heartbeat-ms", "100", "--heartbeat-timeout-ms", "1000"},
                      seconds(180));
  killer.join();
  INFO(r.output);
  REQUIRE(killed_both);
  REQUIRE(r.exit_code == 0);
  const std::string sched = ReadFile(run_dir + "/logs/scheduler.log");
  size_t replacements = 0;
  for (size_t at = sched.find("registered as the replacement for shard 0"); at != std::string::npos;
       at = sched.find("registered as the replacement for shard 0", at + 1))
    ++replacements;
  CHECK(replacements >= 2);
  auto result = nlohmann::json::parse(ReadFile(run_dir + "/result.json"));
  CHECK(result["restarts"].get<int>() >= 2);
  for (const auto& e : result["epochs"]) CHECK(e["samples"] == 20000);
  RequireNoOrphans(run_dir);
}

// One drill: the fault-free baseline, then the job with the fault at a moment
// drawn from the seed. The drill passes when the job recovered and lost at
// most `tolerance` percentage points of accuracy (one by default). With
// min_epoch_accuracy, every epoch of the faulty run must also reach it: a
// model that diverged for a while and recovered by the end still fails.
void RunDrillTest(const std::string& scenario, const std::string& seed,
                  const std::vector<std::string>& extra = {}, const std::string& tolerance = "1",
                  double min_epoch_accuracy = 0) {
  const std::string dir = MakeTempDir() + "/drill";
  auto r = RunPstrain(With(With({"pstrain", "drill", scenario, "--run-dir", dir, "--drill-seed", seed,
                                 "--tolerance", tolerance, "--epochs", "3", "--train-limit", "30000",
                                 "--test-limit", "5000", "--checkpoint-every-steps", "60"},
                                extra),
                           {}),
                      seconds(300));
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("PASSED") != std::string::npos);
  CHECK(r.output.find("time to recover:  n/a") == std::string::npos);
  const std::string fault_run = dir + "/fault";
  auto result = nlohmann::json::parse(ReadFile(fault_run + "/result.json"));
  CHECK(result["fault"]["kind"] == scenario);
  // No data shard skipped or counted twice within an epoch.
  for (const auto& e : result["epochs"]) {
    CHECK(e["samples"] == 30000);
    CHECK(e["test_accuracy"].get<double>() >= min_epoch_accuracy);
  }
  RequireCheckpointsReadable(fault_run);
  RequireNoOrphans(dir);
}

TEST_CASE("Drill: kill -9 a worker", "[integration]") { RunDrillTest("kill-worker", "11"); }
TEST_CASE("Drill: kill -9 a PS: a replacement restores its shard", "[integration]") {
  RunDrillTest("kill-ps", "12");
}
TEST_CASE("Drill: kill -9 the scheduler: it restarts and takes the job over", "[integration]") {
  RunDrillTest("kill-scheduler", "13");
}
TEST_CASE("Drill: add workers while training", "[integration]") { RunDrillTest("add-workers", "14"); }
TEST_CASE("Drill: remove a worker while training", "[integration]") {
  RunDrillTest("remove-workers", "15");
}
TEST_CASE("Drill: a worker hangs (SIGSTOP) past the heartbeat timeout", "[integration]") {
  RunDrillTest("pause-worker", "16", {"--pause-s", "3"});
}

// Under ASP and SSP workers' clocks drift apart, leases are asked for ahead
// and reported on their own, and a rollback restarts each worker at its own
// clock. The final accuracy of two runs differs more than under BSP (timing
// decides the interleaving), hence the wider tolerance; every epoch must
// still be evaluated at 0.7 or better (fault-free runs give 0.80-0.85).
TEST_CASE("Drill: kill -9 a PS under SSP: rollback with per-worker clocks", "[integration]") {
  RunDrillTest("kill-ps", "21", {"--consistency", "ssp", "--staleness", "1"}, "3", 0.7);
}
TEST_CASE("Drill: kill -9 the scheduler under SSP", "[integration]") {
  RunDrillTest("kill-scheduler", "22", {"--consistency", "ssp", "--staleness", "1"}, "3", 0.7);
}
// The replacement worker joins ahead of the survivor's clock; checkpoint
// captures then hold its pushes until the survivor catches up. Its pulls
// wait meanwhile (Shard::HoldsPushOf): before, it trained on without its own
// updates, and the held pushes landed at once and sent ASP runs to 0.36-0.62
// accuracy (train loss up to 6.5) in 3 of 4 runs (binaries from before the fix).
TEST_CASE("Drill: kill -9 a worker under ASP", "[integration]") {
  RunDrillTest("kill-worker", "23", {"--consistency", "asp"}, "3", 0.7);
}

}  // namespace
}  // namespace pst
