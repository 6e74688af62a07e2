#include "bench/elastic_suite.h"

#include <atomic>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "cli/control_commands.h"
#include "cli/launcher.h"
#include "cli/status_command.h"

namespace pst::bench {
namespace {

using Clock = std::chrono::steady_clock;

// How long the workers of a phase may take to join (or leave).
constexpr std::chrono::seconds kJoinTimeout{30};

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Samples/s of the workers alive in both snapshots, summed: each worker's
// samples between two of its heartbeats, over the time between them (a
// snapshot's training time minus the age of the worker's last heartbeat), so
// that when a heartbeat arrived does not skew the figure.
double LiveWorkerRate(const AdminSnapshot& first, const AdminSnapshot& last) {
  double rate = 0;
  for (const AdminNode& b : last.nodes) {
    if (b.role != "worker" || b.state != "alive") continue;
    for (const AdminNode& a : first.nodes) {
      if (a.role != "worker" || a.rank != b.rank || a.state != "alive") continue;
      const double dt_ms = (double(last.elapsed_ms) - double(b.heartbeat_age_ms)) -
                           (double(first.elapsed_ms) - double(a.heartbeat_age_ms));
      if (dt_ms > 0 && b.samples >= a.samples) rate += (b.samples - a.samples) * 1000.0 / dt_ms;
    }
  }
  return rate;
}

// True when the job runs with exactly `workers` live workers and each of them
// has reported trained samples (a new one has been admitted and trains).
bool PhaseReady(const AdminSnapshot& s, uint32_t workers) {
  if (s.job_state != "running") return false;
  uint32_t live = 0;
  for (const AdminNode& node : s.nodes) {
    if (node.role != "worker" || node.state != "alive") continue;
    if (node.samples == 0) return false;
    ++live;
  }
  return live == workers;
}

struct Phase {
  uint32_t workers = 0;
  double join_seconds = 0;  // scale request -> every worker of the phase trains
  double window_seconds = 0;
  double samples_per_second = 0;
};

// Phase i's throughput relative to the first phase's.
double VsFirst(const std::vector<Phase>& phases, size_t i) {
  return phases[i].samples_per_second / phases.front().samples_per_second;
}

// One job launched on a thread of its own, steered and measured from the
// calling thread through the scheduler, as `pstrain scale` and `pstrain
// status` do. Not thread-safe.
class ElasticRun {
 public:
  explicit ElasticRun(LaunchOptions options) : options_(std::move(options)) {}
  ElasticRun(const ElasticRun&) = delete;
  ElasticRun& operator=(const ElasticRun&) = delete;

  void Start() {
    thread_.Start([this] { return Launch(options_, interrupted_, out_).status(); });
  }

  // The job's status now. Errors as FetchJobStatus.
  StatusOr<AdminSnapshot> Fetch() const {
    StatusCommandOptions o;
    o.run_dir = options_.run_dir;
    o.timeout = std::chrono::milliseconds(2000);
    return FetchJobStatus(o);
  }

  // Polls the status until `done` holds. kAborted if the job ended first,
  // kDeadlineExceeded after `timeout` (naming `what`).
  StatusOr<AdminSnapshot> WaitFor(const std::function<bool(const AdminSnapshot&)>& done,
                                  const std::string& what, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    std::string last_error;
    while (Clock::now() < deadline) {
      if (thread_.finished()) {
        const Status ended = Stop();
        return ended.ok() ? Status::Aborted("the job finished while waiting for " + what)
                          : ended.WithContext("the job ended while waiting for " + what);
      }
      auto s = Fetch();
      if (s.ok() && done(*s)) return s;
      last_error = s.ok() ? "" : "; last status error: " + s.status().message();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return Status::DeadlineExceeded(fmt::format("no {} within {} s{}", what,
                                                timeout.count() / 1000.0, last_error));
  }

  // Scales the job to `workers` (`pstrain scale`), waits until they all
  // train, lets them settle, and measures samples/s over `window`.
  StatusOr<Phase> RunPhase(uint32_t workers, bool scale, const ElasticConfig& config) {
    Phase p;
    p.workers = workers;
    const auto asked = Clock::now();
    if (scale) {
      std::ostringstream line;
      ControlTarget target;
      target.run_dir = options_.run_dir;
      PST_RETURN_IF_ERROR(RunScaleCommand(target, workers, line));
      Progress("  pstrain scale: " + line.str().substr(0, line.str().find('\n')));
    }
    PST_ASSIGN_OR_RETURN(
        const AdminSnapshot joined,
        WaitFor([workers](const AdminSnapshot& s) { return PhaseReady(s, workers); },
                fmt::format("{} training worker(s)", workers), kJoinTimeout));
    p.join_seconds = Since(asked);
    std::this_thread::sleep_for(config.settle);
    PST_ASSIGN_OR_RETURN(const AdminSnapshot first, Fetch());
    std::this_thread::sleep_for(config.window);
    PST_ASSIGN_OR_RETURN(const AdminSnapshot last, Fetch());
    // The window must lie inside the phase: same membership, no rollback.
    if (!PhaseReady(last, workers) || last.generation != joined.generation)
      return Status::Aborted(fmt::format(
          "the job changed during the measurement (state {}, generation {} -> {})",
          last.job_state, joined.generation, last.generation));
    p.window_seconds = (double(last.elapsed_ms) - double(first.elapsed_ms)) / 1000.0;
    p.samples_per_second = LiveWorkerRate(first, last);
    Progress(fmt::format("  {} worker(s): all training {:.1f} s after the request; {} samples/s over "
                         "{:.1f} s",
                         workers, p.join_seconds, FormatCount(uint64_t(p.samples_per_second + 0.5)),
                         p.window_seconds));
    return p;
  }

  // Stops the job (as Ctrl-C would) unless it has ended, and returns how it
  // ended: OK when it was stopped or had finished, its error otherwise (the
  // launcher's output is printed then). Later calls return the same.
  Status Stop() {
    if (stopped_) return stop_status_;
    stopped_ = true;
    interrupted_ = true;
    stop_status_ = thread_.Join(std::chrono::seconds(30));
    if (stop_status_.code() == StatusCode::kDeadlineExceeded) {
      // The thread still uses this object: leak it rather than free it under it.
      leaked_ = true;
      stop_status_ = stop_status_.WithContext("stopping the job");
    } else if (stop_status_.code() == StatusCode::kCancelled) {
      stop_status_ = Status::OK();
    } else if (!stop_status_.ok()) {
      std::cout << out_.str();
    }
    return stop_status_;
  }

  bool leaked() const { return leaked_; }

 private:
  const LaunchOptions options_;
  std::atomic<bool> interrupted_{false};
  std::ostringstream out_;  // the launcher's output; read only after Join
  RoleThread thread_;
  bool stopped_ = false;
  Status stop_status_;
  bool leaked_ = false;
};

// Launches one job and runs it through config.phases.
StatusOr<std::vector<Phase>> RunPhases(const ElasticConfig& config, Consistency consistency,
                                       uint32_t delay_ms, const std::string& run_dir) {
  LaunchOptions lo;
  lo.job.num_servers = 1;
  lo.job.num_workers = config.phases.front();
  // Far more than the phases take: the bench stops the job after the last one.
  lo.job.train.epochs = 100;
  lo.job.train.consistency = consistency;
  lo.step_delay_ms = delay_ms;
  // Fast heartbeats: they carry the workers' sample counts.
  lo.heartbeat_interval = std::chrono::milliseconds(100);
  lo.admin_port = -1;
  lo.run_dir = run_dir;
  lo.bin_dir = config.bin_dir;
  lo.progress = ProgressStyle::kQuiet;
  lo.timeout = std::chrono::seconds(300);
  auto run = std::make_unique<ElasticRun>(lo);
  run->Start();
  std::vector<Phase> phases;
  Status s;
  for (size_t i = 0; i < config.phases.size() && s.ok(); ++i) {
    auto p = run->RunPhase(config.phases[i], i > 0 && config.phases[i] != config.phases[i - 1], config);
    if (p.ok()) phases.push_back(*p);
    else s = p.status().WithContext(fmt::format("phase {} ({} workers)", i + 1, config.phases[i]));
  }
  Status stopped = run->Stop();
  if (run->leaked()) static_cast<void>(run.release());
  if (!s.ok()) return s;
  if (!stopped.ok()) return stopped;
  return phases;
}

}  // namespace

Status RunElasticSuite(const ElasticConfig& config, Report& report) {
  if (config.phases.empty() || config.phases.front() == 0)
    return Status::InvalidArgument("elastic: the phases must start with at least one worker");
  for (uint32_t n : config.phases)
    if (n == 0 || n > 64) return Status::InvalidArgument("elastic: a phase needs 1 to 64 workers");
  PST_ASSIGN_OR_RETURN(const std::string tmp_dir, MakeTempDir("elastic"));
  std::string path;
  for (uint32_t n : config.phases) path += (path.empty() ? "" : " -> ") + std::to_string(n);
  std::vector<uint32_t> delays = {config.step_delay_ms};
  if (config.contrast && config.step_delay_ms > 0) delays.push_back(0);

  std::vector<std::string> header = {"phase", "workers", "ideal",
                                     fmt::format("samples/s ({} ms/step)", config.step_delay_ms),
                                     "vs first", "all training after"};
  if (delays.size() > 1) {
    header.push_back("samples/s (no delay)");
    header.push_back("vs first");
  }
  Table table(header);
  nlohmann::json runs = nlohmann::json::array();
  for (const auto& [name, consistency] :
       {std::pair{"ASP", Consistency::kAsp}, std::pair{"BSP", Consistency::kBsp}}) {
    std::vector<std::vector<Phase>> by_delay;
    for (uint32_t delay : delays) {
      const std::string run_dir = fmt::format("{}/{}-{}ms", tmp_dir, name, delay);
      Progress(fmt::format("elastic: {}, 1 PS, workers {} while it trains, {}", name, path,
                           delay ? fmt::format("every worker sleeps {} ms before each step", delay)
                                 : std::string("no delay")));
      auto phases = RunPhases(config, consistency, delay, run_dir);
      if (!phases.ok())
        return phases.status().WithContext(fmt::format("{} with {} ms/step (kept {})", name, delay, run_dir));
      nlohmann::json rows = nlohmann::json::array();
      std::string figures, ratios;
      for (size_t i = 0; i < phases->size(); ++i) {
        const Phase& p = (*phases)[i];
        rows.push_back({{"workers", p.workers},
                        {"samples_per_second", p.samples_per_second},
                        {"ratio", VsFirst(*phases, i)},
                        {"ideal_ratio", double(p.workers) / config.phases.front()},
                        {"join_seconds", p.join_seconds},
                        {"window_seconds", p.window_seconds}});
        figures += (i ? ", " : "") + Fixed(p.samples_per_second, 0);
        ratios += (i ? ", " : "") + Fixed(VsFirst(*phases, i), 2);
      }
      runs.push_back({{"consistency", name}, {"step_delay_ms", delay}, {"phases", rows}});
      report.summary.push_back(fmt::format("elastic {} {}: workers {}: {} samples/s (x {})", name,
                                           delay ? fmt::format("{} ms/step", delay) : "no delay", path,
                                           figures, ratios));
      by_delay.push_back(std::move(*phases));
    }
    for (size_t i = 0; i < config.phases.size(); ++i) {
      const Phase& d = by_delay[0][i];
      std::vector<std::string> row = {fmt::format("{} {}", name, i + 1),
                                      std::to_string(d.workers),
                                      Fixed(double(d.workers) / config.phases.front(), 2),
                                      FormatCount(uint64_t(d.samples_per_second + 0.5)),
                                      Fixed(VsFirst(by_delay[0], i), 2),
                                      Fixed(d.join_seconds, 1) + " s"};
      if (by_delay.size() > 1) {
        row.push_back(FormatCount(uint64_t(by_delay[1][i].samples_per_second + 0.5)));
        row.push_back(Fixed(VsFirst(by_delay[1], i), 2));
      }
      table.AddRow(std::move(row));
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(tmp_dir, ec);

  std::cout << fmt::format(
      "\n== elastic: default model, 1 PS, workers {} with `pstrain scale` while the job trains "
      "(each samples/s column of a consistency is one job) ==\n",
      path);
  table.Print();
  std::cout << fmt::format(
      "  Every worker sleeps {} ms before each step on top of its real compute: it emulates workers\n"
      "  computing on other machines (this one has {} cores). samples/s: the live workers' samples\n"
      "  between two of their heartbeats (sent every 100 ms) over the time between those heartbeats,\n"
      "  summed; a {:.1f} s window that starts {:.2f} s after every worker of the phase was alive and\n"
      "  had reported trained samples. ideal: workers / first phase's workers. \"all training after\":\n"
      "  from the scale request (first phase: from the launch).\n",
      config.step_delay_ms, std::thread::hardware_concurrency(), config.window.count() / 1000.0,
      config.settle.count() / 1000.0);
  report.json["elastic"] = {{"step_delay_ms", config.step_delay_ms},
                            {"phases", config.phases},
                            {"settle_seconds", config.settle.count() / 1000.0},
                            {"window_seconds", config.window.count() / 1000.0},
                            {"runs", runs}};
  return Status::OK();
}

}  // namespace pst::bench
