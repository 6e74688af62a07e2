// Integration tests: real local clusters (scheduler, PS and workers as separate
// processes on loopback TCP) started through `pstrain launch`.
#include <signal.h>

#include <cmath>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "cli/local_trainer.h"
#include "common/cpu_affinity.h"
#include "common/model_file.h"
#include "tests/integration/harness.h"
#include "worker/idx_reader.h"

namespace pst {
namespace {

using testing::LastLine;
using testing::MakeTempDir;
using testing::ProcessesMentioning;
using testing::ReadFile;
using testing::RequireNoOrphans;
using testing::RunPstrain;
using std::chrono::seconds;

const char* kDataDir = "/usr/share/datasets/fashion-mnist";

nlohmann::json ReadResult(const std::string& run_dir) {
  return nlohmann::json::parse(ReadFile(run_dir + "/result.json"));
}

TEST_CASE("Cluster: the default job reaches 85% test accuracy in 5 epochs", "[integration]") {
  const std::string run_dir = MakeTempDir() + "/run";
  auto r = RunPstrain({"pstrain", "launch", "--run-dir", run_dir}, seconds(300));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const std::string last = LastLine(r.output);
  REQUIRE(last.rfind("final test accuracy: ", 0) == 0);
  const double printed = std::stod(last.substr(std::string("final test accuracy: ").size()));
  auto result = ReadResult(run_dir);
  CHECK(result["epochs"].size() == 5);
  CHECK(result["servers"] == 2);
  CHECK(result["workers"] == 2);
  CHECK(std::abs(result["final_test_accuracy"].get<double>() - printed) < 1e-4);
  CHECK(printed >= 0.85);
  // Every epoch was evaluated and printed with its accuracy.
  for (int e = 1; e <= 5; ++e)
    CHECK(r.output.find("epoch " + std::to_string(e) + "/5  train loss") != std::string::npos);
  CHECK(std::filesystem::exists(run_dir + "/model.safetensors"));
  RequireNoOrphans(run_dir);
}

// Trains the same job on a cluster and in one process; BSP with a
// deterministic schedule must give the same model.
// Returns the run directory.
std::string CheckClusterMatchesLocal(uint32_t servers, uint32_t workers, float tolerance,
                                     float clip_norm = 0,
                                     const std::vector<std::string>& extra_flags = {}) {
  const std::string run_dir = MakeTempDir() + "/run";
  std::vector<std::string> argv{"pstrain", "launch", "--run-dir", run_dir, "--servers",
                                std::to_string(servers), "--workers", std::to_string(workers),
                                "--epochs", "2", "--train-limit", "3000", "--test-limit", "2000",
                                "--progress", "lines", "--clip-norm", std::to_string(clip_norm)};
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  auto r = RunPstrain(argv, seconds(180));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  auto cluster = LoadModel(run_dir + "/model.safetensors");
  REQUIRE(cluster.ok());

  JobSpec job;
  job.num_servers = servers;
  job.num_workers = workers;
  job.train.epochs = 2;
  job.train.train_limit = 3000;
  job.train.test_limit = 2000;
  job.optimizer.clip_norm = clip_norm;
  auto train = LoadFashionMnist(kDataDir, true, 3000);
  auto test = LoadFashionMnist(kDataDir, false, 2000);
  REQUIRE(train.ok());
  REQUIRE(test.ok());
  LocalOptions lo;
  lo.num_workers = workers;
  auto local = TrainLocal(job, *train, *test, lo);
  REQUIRE(local.ok());

  REQUIRE(cluster->params.size() == local->params.size());
  double max_diff = 0, max_abs = 0;
  for (size_t i = 0; i < local->params.size(); ++i) {
    max_diff = std::max(max_diff, double(std::abs(cluster->params[i] - local->params[i])));
    max_abs = std::max(max_abs, double(std::abs(local->params[i])));
  }
  INFO("max |cluster - local| = " << max_diff << ", max |param| = " << max_abs);
  CHECK(max_diff <= tolerance);
  // The model did train: it is far from its initial values.
  CHECK(local->epochs.back().test_accuracy > 0.6);
  auto result = ReadResult(run_dir);
  CHECK(std::abs(result["final_test_accuracy"].get<double>() - local->epochs.back().test_accuracy) <
        0.005);
  RequireNoOrphans(run_dir);
  return run_dir;
}

TEST_CASE("Cluster: 1 PS + 1 worker reproduces the in-process BSP run", "[integration]") {
  // One worker: the same floating-point operations in the same order.
  CheckClusterMatchesLocal(1, 1, 0.0f);
}

TEST_CASE("Cluster: with gradient clipping, 1 PS + 1 worker reproduces the in-process run",
          "[integration]") {
  // A bound well below the typical gradient norm, so clipping is active on most steps.
  CheckClusterMatchesLocal(1, 1, 0.0f, 0.05f);
}

TEST_CASE("Cluster: with --pin-cpus each process runs where placed and the model is unchanged",
          "[integration]") {
  const std::vector<int> cpus = AllowedCpus();
  if (cpus.size() < 2) {
    // No CPU to spare for the worker: a clear refusal before anything starts.
    auto r = RunPstrain({"pstrain", "launch", "--workers", "1", "--pin-cpus"}, seconds(20));
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains("--pin-cpus"));
    return;
  }
  const std::string run_dir = CheckClusterMatchesLocal(1, 1, 0.0f, 0, {"--pin-cpus"});
  // The logs hold the CPUs the kernel reported after pinning.
  const std::string compute = std::to_string(cpus.back());
  const std::string shared = FormatCpuList({cpus.begin(), cpus.end() - 1});
  CHECK_THAT(ReadFile(run_dir + "/logs/worker-0.log"),
             Catch::Contains("running on CPUs " + shared + " (--cpus)") &&
                 Catch::Contains("training thread on CPUs " + compute + " (--compute-cpus)"));
  CHECK_THAT(ReadFile(run_dir + "/logs/ps-0.log"), Catch::Contains("running on CPUs " + shared));
  CHECK_THAT(ReadFile(run_dir + "/logs/scheduler.log"),
             Catch::Contains("running on CPUs " + shared));
  CHECK(ReadResult(run_dir)["pin_cpus"] == true);

  // More workers than CPUs to spare: refused, and nothing is left running.
  const std::string refused_dir = MakeTempDir() + "/run";
  auto r = RunPstrain({"pstrain", "launch", "--run-dir", refused_dir, "--workers",
                       std::to_string(cpus.size()), "--pin-cpus"},
                      seconds(20));
  CHECK(r.exit_code == 2);
  CHECK(std::count(r.output.begin(), r.output.end(), '\n') == 1);
  CHECK_THAT(r.output, Catch::Contains("start fewer workers or drop --pin-cpus"));
  RequireNoOrphans(refused_dir);

  // The roles' own flags: a bad list or a CPU that is not there is one line.
  for (const std::vector<std::string>& argv :
       {std::vector<std::string>{"pstrain-ps", "--scheduler", "tcp://127.0.0.1:9", "--cpus", "3-1"},
        {"pstrain-ps", "--scheduler", "tcp://127.0.0.1:9", "--cpus", "1023"},
        {"pstrain-worker", "--scheduler", "tcp://127.0.0.1:9", "--compute-cpus", "x"}}) {
    auto bad = RunPstrain(argv, seconds(20));
    INFO(bad.output);
    CHECK(bad.exit_code == 2);
    CHECK(std::count(bad.output.begin(), bad.output.end(), '\n') == 1);
    CHECK_THAT(bad.output, Catch::Contains("CPU"));
  }
}

TEST_CASE("Cluster: 3 PS + 3 workers reproduce the in-process BSP run", "[integration]") {
  // Three workers: the shards of a clock go to whichever worker asks first and
  // pushes arrive in any order, but the servers sum them in data order.
  CheckClusterMatchesLocal(3, 3, 0.0f);
}

TEST_CASE("Cluster: a bad flag is one line and exit code 2", "[integration]") {
  auto r = RunPstrain({"pstrain", "launch", "--servers", "abc"}, seconds(20));
  CHECK(r.exit_code == 2);
  CHECK(r.output.find("--servers") != std::string::npos);
  CHECK(std::count(r.output.begin(), r.output.end(), '\n') == 1);

  auto unknown = RunPstrain({"pstrain", "launch", "--no-such-flag"}, seconds(20));
  CHECK(unknown.exit_code == 2);
  CHECK(std::count(unknown.output.begin(), unknown.output.end(), '\n') == 1);

  auto bench = RunPstrain({"pstrain-bench", "--suite", "nope"}, seconds(20));
  CHECK(bench.exit_code == 2);
  CHECK(std::count(bench.output.begin(), bench.output.end(), '\n') == 1);
  CHECK_THAT(bench.output, Catch::Contains("--suite"));
}

TEST_CASE("Cluster: missing data fails before any process starts", "[integration]") {
  const std::string dir = MakeTempDir();
  const std::string run_dir = dir + "/run";
  auto r = RunPstrain({"pstrain", "launch", "--run-dir", run_dir, "--data-dir", dir + "/nothing"},
                      seconds(20));
  CHECK(r.exit_code != 0);
  CHECK(r.output.find("dataset-fashion-mnist") != std::string::npos);
  CHECK(std::count(r.output.begin(), r.output.end(), '\n') == 1);
  CHECK(ProcessesMentioning(run_dir).empty());
}

TEST_CASE("Cluster: a bad job file names the file and the field", "[integration]") {
  const std::string dir = MakeTempDir();
  {
    std::ofstream f(dir + "/bad.toml");
    f << "[train]\nbatch_size = \"big\"\n";
  }
  auto r = RunPstrain({"pstrain", "launch", "--job", dir + "/bad.toml"}, seconds(20));
  CHECK(r.exit_code == 2);
  CHECK(r.output.find("bad.toml") != std::string::npos);
  CHECK(r.output.find("train.batch_size") != std::string::npos);
  CHECK(std::count(r.output.begin(), r.output.end(), '\n') == 1);
}

TEST_CASE("Cluster: an unreachable scheduler is a clear error", "[integration]") {
  // Nothing listens on this port: bind it, read it, close it.
  std::string endpoint;
  {
    zmq::context_t ctx(1);
    zmq::socket_t s(ctx, zmq::socket_type::router);
    s.bind("tcp://127.0.0.1:*");
    endpoint = s.get(zmq::sockopt::last_endpoint);
  }
  for (const char* role : {"pstrain-worker", "pstrain-ps"}) {
    auto r = RunPstrain({role, "--scheduler", endpoint, "--connect-timeout-ms", "1000"}, seconds(20));
    INFO(role << ": " << r.output);
    CHECK(r.exit_code == 1);
    CHECK(r.output.find("cannot reach the scheduler at " + endpoint) != std::string::npos);
    CHECK(std::count(r.output.begin(), r.output.end(), '\n') == 1);
  }
}

TEST_CASE("Cluster: Ctrl-C stops every process", "[integration]") {
  const std::string run_dir = MakeTempDir() + "/run";
  auto r = RunPstrain({"pstrain", "launch", "--run-dir", run_dir, "--epochs", "200", "--progress",
                       "lines"},
                      seconds(60), std::chrono::milliseconds(4000));
  INFO(r.output);
  CHECK(r.exit_code == 130);
  CHECK(r.output.find("interrupted") != std::string::npos);
  RequireNoOrphans(run_dir);
}

// The pid of the first node of `role` in a /status document (0 if none).
pid_t NodePid(const nlohmann::json& status, const std::string& role, uint32_t rank) {
  for (const auto& n : status["nodes"])
    if (n["role"] == role && n["rank"] == rank) return n["pid"].get<pid_t>();
  return 0;
}

// True once the workers trained something (the /status totals say so).
bool Training(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  return !j.is_discarded() && j["totals"]["samples"].get<uint64_t>() > 0;
}

TEST_CASE("Cluster: without supervision a worker killed with SIGKILL costs its lease, not the job",
          "[integration]") {
  const std::string run_dir = MakeTempDir() + "/run";
  bool killed_in_time = false;
  std::thread killer([&] {
    // Once both train, freeze both workers, check that the last epoch is
    // still open (so the survivor trains and evaluates it), kill worker 1
    // and let worker 0 go on: the kill lands at a known point of the job.
    const std::string body = testing::WaitForStatus(run_dir, Training, std::chrono::seconds(60));
    if (body.empty()) return;
    const auto first = nlohmann::json::parse(body);
    const pid_t w0 = NodePid(first, "worker", 0), w1 = NodePid(first, "worker", 1);
    if (w0 <= 0 || w1 <= 0) return;
    kill(w0, SIGSTOP);
    kill(w1, SIGSTOP);
    const auto now = nlohmann::json::parse(
        testing::WaitForStatus(run_dir, [](const std::string&) { return true; }, std::chrono::seconds(5)));
    killed_in_time = !now["epochs"][1]["evaluated"].get<bool>() && now["epochs"][1]["end_ms"] == 0;
    kill(w1, SIGKILL);
    kill(w0, SIGCONT);
  });
  // Each step sleeps 10 ms, so the job is surely still in its first epoch
  // when the killer looks (and the check above says whether it was).
  auto r = RunPstrain({"pstrain", "launch", "--run-dir", run_dir, "--epochs", "2", "--train-limit",
                       "20000", "--test-limit", "2000", "--progress", "lines", "--no-supervise",
                       "--heartbeat-ms", "100", "--heartbeat-timeout-ms", "1000", "--step-delay-ms", "10"},
                      seconds(180));
  killer.join();
  INFO(r.output);
  REQUIRE(killed_in_time);
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find("exited with status 137; its lease goes back to the pool") != std::string::npos);
  // The survivor trained the rest: every sample of every epoch exactly once.
  auto result = nlohmann::json::parse(ReadFile(run_dir + "/result.json"));
  REQUIRE(result["epochs"].size() == 2);
  for (const auto& e : result["epochs"]) CHECK(e["samples"] == 20000);
  CHECK(ReadFile(run_dir + "/logs/scheduler.log").find("is dead") != std::string::npos);
  RequireNoOrphans(run_dir);
}

TEST_CASE("Cluster: when no live worker is left the job says what it waits for, then fails",
          "[integration]") {
  const std::string run_dir = MakeTempDir() + "/run";
  std::thread killer([&] {
    const std::string body = testing::WaitForStatus(run_dir, Training, std::chrono::seconds(60));
    if (body.empty()) return;
    if (pid_t w = NodePid(nlohmann::json::parse(body), "worker", 0); w > 0) kill(w, SIGKILL);
  });
  auto r = RunPstrain({"pstrain", "launch", "--run-dir", run_dir, "--workers", "1", "--epochs", "2",
                       "--train-limit", "20000", "--test-limit", "2000", "--progress", "lines",
                       "--no-supervise", "--heartbeat-ms", "100", "--heartbeat-timeout-ms", "1000",
                       "--step-delay-ms", "10", "--recovery-timeout-s", "4"},
                      seconds(180));
  killer.join();
  INFO(r.output);
  CHECK(r.exit_code == 1);
  // The launcher's progress line, the failure and the scheduler's log say it.
  CHECK(r.output.find("waiting for a worker: epoch 1 has data left to train and no live worker") !=
        std::string::npos);
  CHECK(r.output.find("no live worker for 4 s") != std::string::npos);
  CHECK(ReadFile(run_dir + "/logs/scheduler.log").find("waiting for a worker") != std::string::npos);
  RequireNoOrphans(run_dir);
}

}  // namespace
}  // namespace pst

namespace pst {
namespace {

TEST_CASE("Cluster: --target-accuracy stops the job at the first epoch that reaches it",
          "[integration]") {
  const std::string run_dir = testing::MakeTempDir() + "/run";
  auto r = testing::RunPstrain({"pstrain", "launch", "--run-dir", run_dir, "--epochs", "6",
                                "--train-limit", "12000", "--target-accuracy", "0.78",
                                "--progress", "lines"},
                               std::chrono::seconds(180));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  auto result = nlohmann::json::parse(testing::ReadFile(run_dir + "/result.json"));
  CHECK(result["target_reached"] == true);
  const auto& epochs = result["epochs"];
  REQUIRE(epochs.size() >= 1);
  CHECK(epochs.size() < 6);
  // Every epoch before the last stayed below the target; the last reached it.
  for (size_t i = 0; i + 1 < epochs.size(); ++i) CHECK(epochs[i]["test_accuracy"].get<double>() < 0.78);
  CHECK(epochs.back()["test_accuracy"].get<double>() >= 0.78);
  CHECK(r.output.find("reached the target test accuracy 0.7800") != std::string::npos);
  // The model of the stopping epoch was saved.
  CHECK(std::filesystem::exists(run_dir + "/model.safetensors"));
  // Per-epoch time breakdown is reported.
  CHECK(epochs.back()["worker_compute_seconds"].get<double>() > 0);
  testing::RequireNoOrphans(run_dir);
}

}  // namespace
}  // namespace pst

namespace pst {
namespace {

TEST_CASE("Cluster: linear and logistic regression train on a cluster", "[integration]") {
  for (const char* loss : {"squared", "logistic"}) {
    const std::string run_dir = testing::MakeTempDir() + "/run";
    auto r = testing::RunPstrain({"pstrain", "launch", "--run-dir", run_dir, "--layers", "784,10",
                                  "--loss", loss, "--epochs", "2", "--train-limit", "12000",
                                  "--progress", "lines"},
                                 std::chrono::seconds(120));
    INFO(loss << "\n" << r.output);
    REQUIRE(r.exit_code == 0);
    auto result = nlohmann::json::parse(testing::ReadFile(run_dir + "/result.json"));
    // Far above chance (0.1) after two epochs of 12000 samples.
    CHECK(result["final_test_accuracy"].get<double>() >= 0.65);
  }
}

}  // namespace
}  // namespace pst
