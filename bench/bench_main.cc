// pstrain-bench: prints throughput and latency figures of pstrain (it is not a
// test: nothing is compared with a threshold). Suites:
//   pushpull  dense push + pull round trips, 1 in-process worker <-> 1 PS over
//             loopback TCP, against a bare ZeroMQ echo of the same bytes;
//   train     samples/s of the default job in one process vs local clusters;
//   consistency  BSP/SSP/ASP with and without a straggler;
//   tta       time to 85% test accuracy against a plain trainer;
//   elastic   samples/s of one job scaled 1 -> 2 -> 4 -> 1 workers while it
//             trains, every worker emulating compute elsewhere with a sleep;
//   sparse    sparse embedding tables: memory per row and pull + push ids/s;
//   sparse-train  embedding + MLP samples/s in one process vs 1 + 1 and 2 + 2
//             clusters, and LR / FM test AUC of the example jobs against the
//             single-process reference trainer;
//   sparse-large  a 10^7-row sparse table: a cluster trains it; PS memory,
//             checkpoint write (full, incremental) and restore times (not
//             part of "all": a few GB and minutes);
//   large     a 100M-parameter dense model: samples/s, worker compute against
//             the plain trainer, memory, checkpoint write and restore (not
//             part of "all": it needs a few GB and minutes).
// A suite that fails prints what it has and the others still run. Exit code 0
// when everything ran, 1 on any error, 2 for a bad flag (one line on stderr).
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "bench/bench_util.h"
#include "bench/consistency_suite.h"
#include "bench/elastic_suite.h"
#include "bench/large_suite.h"
#include "bench/pushpull_suite.h"
#include "bench/scheduler_load_suite.h"
#include "bench/sparse_large_suite.h"
#include "bench/sparse_suite.h"
#include "bench/sparse_train_suite.h"
#include "bench/time_to_accuracy_suite.h"
#include "bench/train_suite.h"
#include "common/allocator_tuning.h"
#include "common/role_main.h"
#include "cli/launcher.h"
#include "common/log.h"

namespace {

std::string SelfDir() {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "." : self.parent_path().string();
}

std::string FirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) != 0) continue;
    const size_t colon = line.find(':');
    return colon == std::string::npos ? line : line.substr(colon + 2);
  }
  return "unknown CPU";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"pstrain-bench: prints pstrain's push/pull and training throughput.",
               "pstrain-bench"};
  std::string suite = "all";
  uint64_t iters = 0;
  uint32_t epochs = 2;
  std::string json_path;
  std::string bin_dir = SelfDir();
  app.add_option("--suite", suite,
                 "pushpull|train|consistency|tta|elastic|sparse|sparse-train|sparse-large|scheduler|"
                 "large|all (all: every suite but sparse-large and large)")
      ->check(CLI::IsMember({"pushpull", "train", "consistency", "tta", "elastic", "sparse",
                             "sparse-train", "sparse-large", "scheduler", "large", "all"}))
      ->capture_default_str();
  app.add_option("--iters", iters,
                 "Timed round trips per pushpull row (default: 200 for the model size, 100 for "
                 "1M values, 20 for 10M)");
  app.add_option("--epochs", epochs, "Epochs of every training run")
      ->check(CLI::Range(1u, 1000u))
      ->capture_default_str();
  pst::bench::ElasticConfig elastic;
  app.add_option("--step-delay-ms", elastic.step_delay_ms,
                 "elastic: every worker sleeps this long before each step (emulated compute)")
      ->check(CLI::Range(0u, pst::kMaxStepDelayMs))
      ->capture_default_str();
  uint32_t repeat = 1;
  app.add_option("--repeat", repeat,
                 "train: run every setup this many rounds and give median ratios (this VM's "
                 "speed drifts by tens of percent within minutes)")
      ->check(CLI::Range(1u, 50u))
      ->capture_default_str();
  uint64_t sparse_rows = pst::bench::SparseConfig{}.rows;
  app.add_option("--sparse-rows", sparse_rows, "sparse: rows in the benchmarked table")
      ->check(CLI::Range(uint64_t{1000}, uint64_t{1'000'000'000}))
      ->capture_default_str();
  pst::bench::SparseTrainConfig sparse_train;
  app.add_option("--sparse-samples", sparse_train.samples,
                 "sparse-train: synthetic samples (train + test) of the embedding + MLP runs")
      ->check(CLI::Range(uint64_t{10'000}, uint64_t{100'000'000}))
      ->capture_default_str();
  app.add_option("--examples-dir", sparse_train.examples_dir,
                 "sparse-train: directory of the example job files (their data paths are "
                 "relative to the working directory)")
      ->capture_default_str();
  pst::bench::SchedulerLoadConfig load;
  app.add_option("--load-workers", load.workers, "scheduler: simulated workers")
      ->check(CLI::Range(1u, 20000u))
      ->capture_default_str();
  uint32_t load_seconds = 10;
  app.add_option("--load-seconds", load_seconds, "scheduler: length of each measured phase")
      ->check(CLI::Range(1u, 600u))
      ->capture_default_str();
  bool secure = false;
  app.add_flag("--secure", secure,
               "pushpull, train: also run with CurveZMQ on every socket and give its cost as a "
               "ratio against plain TCP");
  app.add_option("--json", json_path, "Also write every figure to this JSON file");
  app.add_option("--bin-dir", bin_dir, "Where pstrain-scheduler, pstrain-ps, pstrain-worker are")
      ->capture_default_str();
  if (auto code = pst::ParseFlags(app, argc, argv)) return *code;
  // The PS and worker binaries do this too; the pushpull suite hosts both here.
  pst::KeepFreedMemoryForReuse();

  // Logs of the in-process scheduler and PS go to stderr, warnings only.
  pst::Status s = pst::InitLogging("bench", "warn");
  if (!s.ok()) {
    std::cerr << "pstrain-bench: error: " << s.ToString() << "\n";
    return 1;
  }

  std::string command;
  for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);
  char date[64];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S %Z", std::localtime(&now));
  const long nproc = sysconf(_SC_NPROCESSORS_ONLN);
  const std::string loadavg = FirstLine("/proc/loadavg");
  std::cout << fmt::format("pstrain-bench  {}  nproc {}  {}\n", date, nproc, CpuModel());
  std::cout << fmt::format("command: {}\nload average at start: {}\n\n", command, loadavg)
            << std::flush;

  pst::bench::Report report;
  report.json["header"] = {{"date", date},       {"nproc", nproc},     {"cpu", CpuModel()},
                           {"command", command}, {"loadavg", loadavg}, {"suite", suite}};
  const auto t0 = std::chrono::steady_clock::now();
  if (suite == "pushpull" || suite == "all") {
    pst::bench::PushPullConfig pc;
    pc.iters = iters;
    pc.secure = secure;
    s = pst::bench::RunPushPullSuite(pc, report).WithContext("pushpull");
  }
  if (suite == "train" || suite == "all") {
    pst::bench::TrainConfig tc;
    tc.epochs = epochs;
    tc.repeat = repeat;
    tc.bin_dir = bin_dir;
    tc.secure = secure;
    pst::Status t = pst::bench::RunTrainSuite(tc, report).WithContext("train");
    if (!t.ok()) report.summary.push_back("train: FAILED (" + t.ToString() + ")");
    if (s.ok()) s = t;
  }
  if (suite == "consistency" || suite == "all") {
    pst::bench::ConsistencyConfig cc;
    cc.bin_dir = bin_dir;
    pst::Status c = pst::bench::RunConsistencySuite(cc, report).WithContext("consistency");
    if (!c.ok()) report.summary.push_back("consistency: FAILED (" + c.ToString() + ")");
    if (s.ok()) s = c;
  }
  if (suite == "tta" || suite == "all") {
    pst::bench::TimeToAccuracyConfig tc;
    tc.bin_dir = bin_dir;
    pst::Status t = pst::bench::RunTimeToAccuracySuite(tc, report).WithContext("tta");
    if (!t.ok()) report.summary.push_back("tta: FAILED (" + t.ToString() + ")");
    if (s.ok()) s = t;
  }
  if (suite == "elastic" || suite == "all") {
    elastic.bin_dir = bin_dir;
    pst::Status e = pst::bench::RunElasticSuite(elastic, report).WithContext("elastic");
    if (!e.ok()) report.summary.push_back("elastic: FAILED (" + e.ToString() + ")");
    if (s.ok()) s = e;
  }
  if (suite == "sparse" || suite == "all") {
    pst::bench::SparseConfig sc;
    sc.rows = sparse_rows;
    pst::Status e = pst::bench::RunSparseSuite(sc, report).WithContext("sparse");
    if (!e.ok()) report.summary.push_back("sparse: FAILED (" + e.ToString() + ")");
    if (s.ok()) s = e;
  }
  if (suite == "sparse-train" || suite == "all") {
    sparse_train.bin_dir = bin_dir;
    pst::Status e =
        pst::bench::RunSparseTrainSuite(sparse_train, report).WithContext("sparse-train");
    if (!e.ok()) report.summary.push_back("sparse-train: FAILED (" + e.ToString() + ")");
    if (s.ok()) s = e;
  }
  if (suite == "scheduler" || suite == "all") {
    load.bin_dir = bin_dir;
    load.window = std::chrono::seconds(load_seconds);
    pst::Status e = pst::bench::RunSchedulerLoadSuite(load, report).WithContext("scheduler");
    if (!e.ok()) report.summary.push_back("scheduler: FAILED (" + e.ToString() + ")");
    if (s.ok()) s = e;
  }
  if (suite == "sparse-large") {
    pst::bench::SparseLargeConfig lc;
    lc.bin_dir = bin_dir;
    pst::Status l = pst::bench::RunSparseLargeSuite(lc, report).WithContext("sparse-large");
    if (!l.ok()) report.summary.push_back("sparse-large: FAILED (" + l.ToString() + ")");
    if (s.ok()) s = l;
  }
  if (suite == "large") {
    pst::bench::LargeConfig lc;
    lc.bin_dir = bin_dir;
    pst::Status l = pst::bench::RunLargeSuite(lc, report).WithContext("large");
    if (!l.ok()) report.summary.push_back("large: FAILED (" + l.ToString() + ")");
    if (s.ok()) s = l;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::cout << "\n== summary ==\n";
  for (const std::string& line : report.summary) std::cout << "  " << line << "\n";
  std::cout << fmt::format("  total {:.1f} s; load average at end: {}\n", seconds,
                           FirstLine("/proc/loadavg"));
  report.json["summary"] = report.summary;
  report.json["total_seconds"] = seconds;
  if (!s.ok()) report.json["error"] = s.ToString();

  if (!json_path.empty()) {
    std::ofstream out(json_path);
    out << report.json.dump(2) << "\n";
    if (!out) {
      std::cerr << "pstrain-bench: error: cannot write " << json_path << "\n";
      return 1;
    }
  }
  if (!s.ok()) {
    std::cerr << "pstrain-bench: error: " << s.ToString() << "\n";
    return 1;
  }
  return 0;
}
