#include "cli/launcher.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <thread>
#include <utility>

#include <fmt/format.h>
#include <kj/exception.h>
#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "cli/child_process.h"
#include "cli/control_commands.h"
#include "cli/progress.h"
#include "cli/report_command.h"
#include "cli/run_history.h"
#include "common/channel.h"
#include "common/cpu_affinity.h"
#include "common/job_file.h"
#include "scheduler/admin_snapshot.h"
#include "worker/idx_reader.h"

namespace pst {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;

struct Proc {
  std::string name;  // "scheduler", "ps 0", "worker 1"
  ChildProcess child;
  std::string bin;   // how to start it again
  std::vector<std::string> args;
  bool ended = false;  // exited and handled (a worker that left, a replaced PS)
};

bool IsWorker(const Proc& p) { return p.name.rfind("worker", 0) == 0; }
bool IsPs(const Proc& p) { return p.name.rfind("ps ", 0) == 0; }

std::string DefaultRunDir() {
  char stamp[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", std::localtime(&now));
  return fmt::format("runs/{}-{}", stamp, getpid());
}

std::string SelfDir() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? "." : self.parent_path().string();
}

StatusOr<std::string> ReadEndpointFile(const std::string& path, ChildProcess& scheduler,
                                       const std::atomic<bool>& interrupted) {
  const auto deadline = Clock::now() + std::chrono::seconds(15);
  while (Clock::now() < deadline) {
    std::ifstream in(path);
    std::string endpoint;
    if (in && std::getline(in, endpoint) && !endpoint.empty()) return endpoint;
    if (auto code = scheduler.Poll())
      return Status::Aborted(fmt::format("the scheduler exited with status {}: {} (log: {})", *code,
                                         scheduler.LastLogLine(), scheduler.log_path()));
    if (interrupted) return Status::Cancelled("interrupted");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Status::DeadlineExceeded("the scheduler did not start listening within 15 s (log: " +
                                  scheduler.log_path() + ")");
}

// Stops every process still running: SIGTERM first, SIGKILL after `grace`.
void StopAll(std::vector<Proc>& procs, std::chrono::milliseconds grace) {
  for (Proc& p : procs) p.child.Signal(SIGTERM);
  const auto deadline = Clock::now() + grace;
  for (Proc& p : procs) {
    const auto left = std::max(std::chrono::milliseconds(0),
                               std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
    if (!p.child.Wait(left)) p.child.Stop(std::chrono::milliseconds(0));
  }
}

Status WriteResultJson(const std::string& path, const LaunchOptions& options,
                       const LaunchResult& r) {
  nlohmann::json j;
  j["run_dir"] = r.run_dir;
  j["model"] = r.model_path;
  j["servers"] = options.job.num_servers;
  j["workers"] = options.job.num_workers;
  j["step_delay_ms"] = options.step_delay_ms;
  j["pin_cpus"] = options.pin_cpus;
  j["final_test_accuracy"] = r.final_test_accuracy;
  j["wall_seconds"] = r.wall_seconds;
  j["samples_per_second"] = r.samples_per_second;
  j["target_accuracy"] = options.job.train.target_accuracy;
  j["target_reached"] = r.target_reached;
  if (r.target_reached) j["seconds_to_target"] = r.seconds_to_target;
  j["resumed"] = r.resumed;
  j["restarts"] = r.restarts;
  j["rollbacks"] = r.generation;
  j["redone_clocks"] = r.redone_clocks;
  j["complete_checkpoints"] = r.checkpoints;
  if (r.fault.injected) {
    j["fault"] = {{"kind", FaultKindName(options.fault.kind)},
                  {"target", r.fault.target},
                  {"injected_at", r.fault.injected_at},
                  {"detected_at", r.fault.detected_at},
                  {"recovered_at", r.fault.recovered_at}};
  }
  j["epochs"] = nlohmann::json::array();
  for (const EpochSummary& e : r.epochs)
    j["epochs"].push_back({{"epoch", e.epoch},
                           {"samples", e.samples},
                           {"train_loss", e.train_loss},
                           {"test_accuracy", e.test_accuracy},
                           {"seconds", e.seconds},
                           {"worker_wait_seconds", e.wait_seconds},
                           {"worker_compute_seconds", e.compute_seconds},
                           {"worker_push_seconds", e.push_seconds}});
  std::ofstream out(path);
  out << j.dump(2) << "\n";
  if (!out) return Status::Unavailable("cannot write " + path);
  return Status::OK();
}

}  // namespace

Status ValidateLaunchOptions(const LaunchOptions& options) {
  for (const auto& [flag, value] : {std::pair{"--step-delay-ms", options.step_delay_ms},
                                    std::pair{"--worker-delay-ms", options.straggler_delay_ms}}) {
    if (value > kMaxStepDelayMs)
      return Status::InvalidArgument(fmt::format(
          "{}: expected milliseconds in [0, {}], got {}", flag, kMaxStepDelayMs, value));
  }
  return Status::OK();
}

StatusOr<LaunchResult> Launch(const LaunchOptions& options, const std::atomic<bool>& interrupted,
                              std::ostream& out) {
  PST_RETURN_IF_ERROR(ValidateLaunchOptions(options));
  LaunchResult result;
  result.run_dir = options.run_dir.empty() ? DefaultRunDir() : options.run_dir;
  const std::string state_dir = result.run_dir + "/state";
  // A run directory holding a job's state continues that job.
  JobSpec job = options.job;
  std::error_code ec;
  result.resumed = fs::exists(state_dir + "/scheduler", ec);
  if (result.resumed) {
    auto stored = LoadJobFile(result.run_dir + "/job.toml");
    if (!stored.ok())
      return stored.status().WithContext("resuming the job in " + result.run_dir);
    job = std::move(stored).value();
  }
  PST_RETURN_IF_ERROR(ValidateJobSpec(job));
  PST_RETURN_IF_ERROR(CheckFashionMnistFiles(job.data_dir));
  std::optional<CpuPlacement> cpus;
  if (options.pin_cpus) {
    PST_ASSIGN_OR_RETURN(cpus, PlaceCpus(AllowedCpus(), job.num_workers));
  }
  const std::string bin_dir = options.bin_dir.empty() ? SelfDir() : options.bin_dir;
  for (const char* bin : {"pstrain-scheduler", "pstrain-ps", "pstrain-worker"}) {
    if (access((bin_dir + "/" + bin).c_str(), X_OK) != 0)
      return Status::NotFound(fmt::format("{}/{} not found: build the project (see README) or pass --bin-dir",
                                          bin_dir, bin));
  }

  fs::create_directories(fs::path(result.run_dir) / "logs", ec);
  if (!ec) fs::create_directories(state_dir, ec);
  if (ec) return Status::Unavailable("cannot create run directory " + result.run_dir + ": " + ec.message());
  const std::string job_path = result.run_dir + "/job.toml";
  if (!result.resumed) {
    std::ofstream jf(job_path);
    jf << JobSpecToToml(job);
    if (!jf) return Status::Unavailable("cannot write " + job_path);
  }
  result.model_path = result.run_dir + "/model.safetensors";
  const std::string endpoint_file = result.run_dir + "/scheduler.endpoint";
  fs::remove(endpoint_file, ec);
  fs::remove(endpoint_file + ".admin", ec);

  const bool tty = isatty(STDOUT_FILENO) != 0 && &out == &std::cout;
  ProgressPrinter progress(out,
                           options.progress == ProgressStyle::kBar ||
                               (options.progress == ProgressStyle::kAuto && tty),
                           options.progress == ProgressStyle::kQuiet);
  progress.Line(fmt::format("pstrain: {} PS + {} worker(s), model {}, {} {}, {} epochs", job.num_servers,
                            job.num_workers, [&] {
                              std::string s;
                              for (uint32_t l : job.model.layer_sizes) s += (s.empty() ? "" : "-") + std::to_string(l);
                              return s;
                            }(),
                            OptimizerKindName(job.optimizer.kind), ConsistencyName(job.train.consistency),
                            job.train.epochs));
  progress.Line("run directory: " + result.run_dir);
  if (options.step_delay_ms > 0)
    progress.Line(fmt::format("every worker sleeps {} ms before each step (--step-delay-ms: emulated compute)",
                              options.step_delay_ms));
  if (cpus)
    progress.Line(fmt::format("--pin-cpus: workers' training threads on CPUs {}, everything else on {}",
                              FormatCpuList(cpus->compute), FormatCpuList(cpus->shared)));
  if (result.resumed)
    progress.Line("resuming the job stored there from its last complete checkpoint (job.toml; flags are ignored)");

  // The metrics history (metrics.jsonl) and, at the end, its plots. A history
  // we cannot write costs the plots, not the job.
  std::unique_ptr<RunHistory> history;
  if (auto h = RunHistory::Open(result.run_dir + "/metrics.jsonl"); h.ok()) {
    history = std::move(h).value();
  } else {
    progress.Line("warning: " + h.status().message() + "; no metrics history or plots for this run");
  }
  auto record = [&](const nlohmann::json& line) {
    if (!history) return;
    Status hs = history->Append(line);
    if (!hs.ok()) {
      progress.Line("warning: " + hs.message() + "; the metrics history stops here");
      history.reset();
    }
  };
  auto write_plots = [&] {
    auto lines = ReadRunHistory(result.run_dir + "/metrics.jsonl");
    if (!lines.ok()) return;
    Status ps = WriteRunPlots(result.run_dir, *lines);
    if (ps.ok())
      progress.Line(fmt::format("plots: {0}/loss.svg, {0}/accuracy.svg, {0}/throughput.svg", result.run_dir));
    else
      progress.Line("warning: " + ps.message());
  };

  std::vector<Proc> procs;
  auto fail = [&](Status s) -> Status {
    progress.Finish();
    StopAll(procs, std::chrono::milliseconds(3000));
    write_plots();
    return s;
  };
  auto spawn = [&](const std::string& name, const std::string& bin,
                   std::vector<std::string> args) -> Status {
    std::string log = result.run_dir + "/logs/" + name + ".log";
    for (char& c : log) if (c == ' ') c = '-';
    PST_ASSIGN_OR_RETURN(ChildProcess child, ChildProcess::Start(bin_dir + "/" + bin, args, log));
    procs.push_back({name, std::move(child), bin, std::move(args)});
    return Status::OK();
  };

  const std::string hb = std::to_string(options.heartbeat_interval.count());
  const std::string hb_timeout = std::to_string(options.heartbeat_timeout.count());
  Status s =
      spawn("scheduler", "pstrain-scheduler",
            [&] {
              std::vector<std::string> a{"--job", job_path, "--endpoint-file", endpoint_file,
                                         "--bind", options.bind_host, "--heartbeat-ms", hb,
                                         "--heartbeat-timeout-ms", hb_timeout, "--log-level",
                                         options.log_level, "--admin-port",
                                         std::to_string(options.admin_port), "--state-dir",
                                         state_dir + "/scheduler"};
              if (result.resumed) a.push_back("--resume");
              if (options.recovery_timeout.count() > 0)
                a.insert(a.end(), {"--recovery-timeout-ms",
                                   std::to_string(options.recovery_timeout.count() * 1000)});
              if (cpus) a.insert(a.end(), {"--cpus", FormatCpuList(cpus->shared)});
              return a;
            }());
  if (!s.ok()) return fail(s);
  auto endpoint = ReadEndpointFile(endpoint_file, procs[0].child, interrupted);
  if (!endpoint.ok()) return fail(endpoint.status());
  progress.Line("scheduler: " + *endpoint);
  {
    // The scheduler writes the admin URL before the endpoint file.
    std::ifstream admin(endpoint_file + ".admin");
    if (admin && std::getline(admin, result.admin_url) && !result.admin_url.empty())
      progress.Line("admin: " + result.admin_url);
  }
  // A restarted scheduler must be reachable where the nodes look for it.
  {
    std::vector<std::string>& a = procs[0].args;
    a.push_back("--port");
    a.push_back(endpoint->substr(endpoint->rfind(':') + 1));
    a.erase(std::remove(a.begin(), a.end(), std::string("--resume")), a.end());
  }
  for (uint32_t i = 0; i < job.num_servers && s.ok(); ++i) {
    std::vector<std::string> args{"--scheduler", *endpoint, "--bind", options.bind_host,
                                  "--log-level", options.log_level, "--shard-id", std::to_string(i),
                                  "--state-dir", state_dir + "/ps-" + std::to_string(i)};
    if (cpus) args.insert(args.end(), {"--cpus", FormatCpuList(cpus->shared)});
    s = spawn("ps " + std::to_string(i), "pstrain-ps", std::move(args));
  }
  uint32_t workers_started = 0;
  auto start_worker = [&]() -> Status {
    std::vector<std::string> args{"--scheduler", *endpoint, "--model-out", result.model_path,
                                  "--log-level", options.log_level};
    const uint32_t delay_ms =
        options.step_delay_ms + (workers_started == 0 ? options.straggler_delay_ms : 0);
    if (delay_ms > 0) {
      args.push_back("--step-delay-ms");
      args.push_back(std::to_string(delay_ms));
    }
    if (cpus)
      args.insert(args.end(), {"--cpus", FormatCpuList(cpus->shared), "--compute-cpus",
                               std::to_string(cpus->compute[workers_started % cpus->compute.size()])});
    return spawn("worker " + std::to_string(workers_started++), "pstrain-worker", args);
  };
  for (uint32_t i = 0; i < job.num_workers && s.ok(); ++i) s = start_worker();
  if (!s.ok()) return fail(s);

  zmq::context_t ctx(1);
  auto channel_or = Channel::Connect(ctx, *endpoint);
  if (!channel_or.ok()) return fail(channel_or.status());
  auto channel = std::move(channel_or).value();

  const auto launched = Clock::now();
  proto::JobState state = proto::JobState::FORMING;
  uint32_t desired_workers = job.num_workers;
  uint32_t last_desired = job.num_workers;
  uint32_t worker_deficit = 0;  // workers that died or were asked for, not yet started
  uint32_t dead_workers = 0;    // of those, the ones that died
  std::vector<size_t> exited_cleanly;  // PS/scheduler that exited 0, pending the next status
  FaultTimeline& fault = result.fault;
  double elapsed_s = 0;
  uint64_t samples_done = 0;
  uint64_t samples_per_epoch = 0;
  std::vector<uint64_t> epoch_samples;  // from the latest status
  uint32_t generation_before = 0;
  size_t dead_before = 0;
  std::optional<Clock::time_point> resume_paused;  // kPauseWorker: when to SIGCONT
  pid_t paused_pid = 0;
  auto live_process = [&](bool worker, uint32_t index) -> Proc* {
    uint32_t k = 0;
    for (Proc& p : procs) {
      if (p.ended || (worker ? !IsWorker(p) : !IsPs(p))) continue;
      if (!worker && p.name != "ps " + std::to_string(index)) continue;
      if (worker && k++ != index % std::max<uint32_t>(1, desired_workers)) continue;
      return &p;
    }
    return nullptr;
  };
  // Injects options.fault once enough of the job is trained.
  auto InjectFault = [&] {
    const FaultPlan& f = options.fault;
    if (resume_paused && Clock::now() >= *resume_paused) {
      kill(paused_pid, SIGCONT);
      resume_paused.reset();
    }
    if (f.kind == FaultKind::kNone || fault.injected || state != proto::JobState::RUNNING) return;
    const double total = double(job.train.epochs) * std::max<uint64_t>(1, samples_per_epoch);
    if (samples_per_epoch == 0 || samples_done < f.at_fraction * total) return;
    fault.injected = true;
    fault.injected_at = elapsed_s;
    generation_before = result.generation;
    switch (f.kind) {
      case FaultKind::kKillWorker:
      case FaultKind::kPauseWorker:
      case FaultKind::kKillPs: {
        Proc* p = live_process(f.kind != FaultKind::kKillPs, f.kind == FaultKind::kKillPs
                                                                    ? f.target % job.num_servers
                                                                    : f.target);
        if (!p) return;
        fault.target = p->name;
        if (f.kind == FaultKind::kPauseWorker) {
          paused_pid = p->child.pid();
          p->child.Signal(SIGSTOP);
          resume_paused = Clock::now() + std::chrono::milliseconds(int64_t(f.pause_seconds * 1000));
        } else {
          p->child.Signal(SIGKILL);
        }
        break;
      }
      case FaultKind::kKillScheduler:
        fault.target = "scheduler";
        for (Proc& p : procs)
          if (!p.ended && p.name == "scheduler") p.child.Signal(SIGKILL);
        break;
      case FaultKind::kAddWorkers:
      case FaultKind::kRemoveWorkers: {
        const uint32_t want = f.kind == FaultKind::kAddWorkers
                                  ? desired_workers + f.count
                                  : std::max<uint32_t>(1, desired_workers - std::min(desired_workers - 1, f.count));
        fault.target = fmt::format("{} -> {} workers", desired_workers, want);
        auto live = RequestScale(*channel, want, std::chrono::seconds(5));
        if (!live.ok()) progress.Line("warning: scale request failed: " + live.status().message());
        break;
      }
      case FaultKind::kNone: break;
    }
    progress.Line(fmt::format("drill: {} ({}) at {:.2f} s", FaultKindName(f.kind), fault.target, elapsed_s));
  };
  // Follows the fault through the job status: detected when the scheduler
  // shows it, recovered when training runs again with the cluster complete.
  auto TrackFault = [&](proto::JobStatusResponse::Reader st) {
    if (!fault.injected || fault.recovered_at >= 0) return;
    size_t dead = 0, live_workers = 0;
    for (auto n : st.getNodes()) {
      const bool gone = n.getState() == proto::NodeState::DEAD || n.getState() == proto::NodeState::LEFT;
      dead += gone ? 1 : 0;
      if (n.getRole() == proto::Role::WORKER && n.getState() == proto::NodeState::ALIVE) ++live_workers;
    }
    const FaultKind k = options.fault.kind;
    if (fault.detected_at < 0) {
      const bool seen = st.getGeneration() > generation_before || dead > dead_before ||
                        st.getState() == proto::JobState::RECOVERING ||
                        ((k == FaultKind::kAddWorkers || k == FaultKind::kRemoveWorkers) &&
                         st.getDesiredWorkers() != job.num_workers);
      if (!seen) return;
      fault.detected_at = st.getElapsedMs() / 1000.0;
    }
    // Recovered: training runs again with every worker the job asks for, or
    // the job finished.
    if ((st.getState() == proto::JobState::RUNNING && live_workers >= st.getDesiredWorkers() &&
         st.getElapsedMs() / 1000.0 >= fault.detected_at) ||
        st.getState() == proto::JobState::DONE)
      fault.recovered_at = st.getElapsedMs() / 1000.0;
  };
  size_t epochs_reported = 0;
  std::string waiting_for;  // the scheduler's last JobStatusResponse.waitingFor
  uint64_t last_samples = 0;
  double last_loss_sum = 0;
  double recent_loss = 0;
  auto last_rate_time = Clock::now();
  double rate = 0;
  uint64_t pending_status = 0;
  auto last_query = Clock::now() - std::chrono::seconds(1);
  // The workers' totals at the last metrics line: each line's loss and
  // samples/s cover the samples since the previous one.
  auto last_record = Clock::now() - std::chrono::seconds(1);
  double record_elapsed = 0;
  uint64_t record_samples = 0;
  double record_loss_sum = 0;

  while (true) {
    if (interrupted) {
      progress.Line("interrupted: stopping all processes");
      return fail(Status::Cancelled("interrupted"));
    }
    if (options.timeout.count() > 0 && Clock::now() - launched > options.timeout)
      return fail(Status::DeadlineExceeded(fmt::format(
          "the job did not finish within {} s; logs are in {}/logs", options.timeout.count(), result.run_dir)));
    for (size_t i = 0; i < procs.size(); ++i) {
      Proc& p = procs[i];
      if (p.ended) continue;
      auto code = p.child.Poll();
      if (!code || state == proto::JobState::DONE) continue;
      // A worker that left on request (scaled down) or ran out of work exits
      // 0; so does a PS or scheduler that saw the job end before we did, or
      // one stopped with SIGTERM: the next status tells which.
      if (*code == 0) {
        p.ended = true;
        if (!IsWorker(p) && options.supervise) exited_cleanly.push_back(i);
        continue;
      }
      if (IsWorker(p)) {
        ++worker_deficit;
        ++dead_workers;
      }
      // A dead worker costs its lease, not the job: the scheduler hands the
      // rest of it to the others. A dead PS or scheduler needs a replacement.
      const bool fatal = state == proto::JobState::FORMING ||
                         (!IsWorker(p) && (!options.supervise || result.restarts >= options.max_restarts));
      if (fatal)
        return fail(Status::Aborted(fmt::format("{} exited with status {}: {} (log: {})", p.name, *code,
                                                p.child.LastLogLine(), p.child.log_path())));
      progress.Line(fmt::format("{} exited with status {}{}", p.name, *code,
                                IsWorker(p) ? "; its lease goes back to the pool" : "; restarting it"));
      if (fault.injected && fault.detected_at < 0 && p.name == fault.target && !IsWorker(p))
        fault.detected_at = elapsed_s;
      p.ended = true;
      if (IsWorker(p)) continue;  // replaced below if the job wants more workers
      ++result.restarts;
      // The same role again: same shard id and state directory, same port.
      auto again = ChildProcess::Start(bin_dir + "/" + p.bin, p.args, p.child.log_path());
      if (!again.ok()) return fail(again.status().WithContext("restarting " + p.name));
      Proc copy{p.name, std::move(again).value(), p.bin, p.args};
      procs.push_back(std::move(copy));
    }
    // Replace workers that died and start the ones `pstrain scale` asked for.
    if (desired_workers > last_desired) worker_deficit += desired_workers - last_desired;
    last_desired = desired_workers;
    if (options.supervise && state == proto::JobState::RUNNING) {
      uint32_t running = 0;
      for (const Proc& p : procs) running += IsWorker(p) && !p.ended ? 1 : 0;
      for (; worker_deficit > 0 && running < desired_workers; --worker_deficit, ++running) {
        if (dead_workers > 0) {
          --dead_workers;
          ++result.restarts;
        }
        Status ws = start_worker();
        if (!ws.ok()) return fail(ws.WithContext("starting a worker"));
        progress.Line(fmt::format("started {} (the job asks for {} workers)", procs.back().name,
                                  desired_workers));
      }
    }
    InjectFault();
    // A status request the scheduler never answered (it restarted): ask again.
    if (pending_status && Clock::now() - last_query > std::chrono::seconds(2)) {
      channel->Discard(pending_status);
      pending_status = 0;
    }
    // At most a few status queries a second: the scheduler has better things to do.
    if (!pending_status && Clock::now() - last_query >= std::chrono::milliseconds(250)) {
      OutMessage req;
      req.envelope().getBody().initJobStatusRequest();
      auto id = channel->Send(req);
      if (id.ok()) pending_status = *id;
      last_query = Clock::now();
    }
    Channel* c = channel.get();
    PollChannels(&c, 1, std::chrono::milliseconds(100));
    if (pending_status && channel->HasReply(pending_status)) {
      auto reply = channel->Await(pending_status, std::chrono::milliseconds(0));
      pending_status = 0;
      if (reply.ok() && reply->envelope().getBody().isJobStatusResponse()) try {
        auto st = reply->envelope().getBody().getJobStatusResponse();
        state = st.getState();
        elapsed_s = st.getElapsedMs() / 1000.0;
        // What the job waits for when it cannot go on by itself, once per change.
        if (std::string waiting = st.getWaitingFor().cStr(); waiting != waiting_for) {
          if (!waiting.empty()) progress.Line(waiting);
          waiting_for = std::move(waiting);
        }
        desired_workers = st.getDesiredWorkers();
        if (st.getGeneration() != result.generation && st.getGeneration() > 0 && !result.resumed)
          progress.Line(fmt::format("the job rolled back (generation {}): {}", st.getGeneration(),
                                    st.getRollbacks().size() ? st.getRollbacks()[st.getRollbacks().size() - 1].getReason().cStr() : ""));
        result.generation = st.getGeneration();
        result.checkpoints = st.getCheckpoints().size();
        result.redone_clocks = 0;
        for (auto r : st.getRollbacks()) result.redone_clocks += r.getLostClocks();
        TrackFault(st);
        // A PS or scheduler that exited 0 while the job still runs was
        // stopped (SIGTERM): start it again, as if it had died.
        if (state != proto::JobState::DONE) {
          for (size_t i : exited_cleanly) {
            if (result.restarts >= options.max_restarts) break;
            ++result.restarts;
            progress.Line(fmt::format("{} left the running job; restarting it", procs[i].name));
            auto again = ChildProcess::Start(bin_dir + "/" + procs[i].bin, procs[i].args,
                                             procs[i].child.log_path());
            if (!again.ok()) return fail(again.status().WithContext("restarting " + procs[i].name));
            Proc copy{procs[i].name, std::move(again).value(), procs[i].bin, procs[i].args};
            procs.push_back(std::move(copy));
          }
        }
        exited_cleanly.clear();
        uint64_t samples = 0;
        double loss_sum = 0;
        uint64_t steps = 0;
        for (auto n : st.getNodes()) {
          if (n.getRole() != proto::Role::WORKER) continue;
          samples += n.getSamples();
          loss_sum += n.getLossSum();
          steps += n.getSteps();
        }
        samples_done = 0;
        for (auto e : st.getEpochs()) samples_done += e.getSamples();
        samples_per_epoch = st.getSamplesPerEpoch();
        epoch_samples.clear();
        for (auto e : st.getEpochs()) epoch_samples.push_back(e.getSamples());
        if (!fault.injected) {
          dead_before = 0;
          for (auto n : st.getNodes())
            dead_before += n.getState() == proto::NodeState::DEAD || n.getState() == proto::NodeState::LEFT;
        }
        const auto now = Clock::now();
        const double dt = std::chrono::duration<double>(now - last_rate_time).count();
        if (dt >= 1.0 && samples > last_samples) {
          rate = (samples - last_samples) / dt;
          recent_loss = (loss_sum - last_loss_sum) / double(samples - last_samples);
          last_samples = samples;
          last_loss_sum = loss_sum;
          last_rate_time = now;
        }
        // One progress line a second (and the final state).
        if (now - last_record >= std::chrono::seconds(1) || state == proto::JobState::DONE ||
            state == proto::JobState::FAILED) {
          last_record = now;
          nlohmann::json line_loss, line_rate = 0.0;
          if (samples > record_samples) {
            line_loss = (loss_sum - record_loss_sum) / double(samples - record_samples);
            // Over training time (which starts at the first lease, not at launch).
            line_rate = (samples - record_samples) / std::max(1e-3, elapsed_s - record_elapsed);
          }
          record_samples = samples;
          record_loss_sum = loss_sum;
          record_elapsed = elapsed_s;
          nlohmann::json line{{"type", "progress"},
                              {"t", std::chrono::duration<double>(now - launched).count()},
                              {"elapsed", elapsed_s},
                              {"state", AdminJobStateName(state)},
                              {"samples", samples_done},
                              {"samples_per_second", line_rate},
                              {"loss", line_loss},
                              {"epoch", st.getSamplesPerEpoch() > 0
                                            ? std::min<uint64_t>(job.train.epochs,
                                                                 samples / st.getSamplesPerEpoch() + 1)
                                            : 0}};
          nlohmann::json nodes = nlohmann::json::array();
          for (auto n : st.getNodes())
            nodes.push_back({{"role", AdminRoleName(n.getRole())},
                             {"rank", n.getRank()},
                             {"state", AdminNodeStateName(n.getState())},
                             {"clock", n.getClock()},
                             {"samples", n.getSamples()}});
          line["nodes"] = std::move(nodes);
          record(line);
        }
        // Print each epoch once its evaluation is in.
        auto epochs = st.getEpochs();
        while (epochs_reported < epochs.size() && epochs[epochs_reported].getEvaluated()) {
          auto e = epochs[epochs_reported];
          EpochSummary es;
          es.epoch = e.getEpoch() + 1;
          es.train_loss = e.getSamples() ? e.getLossSum() / e.getSamples() : 0;
          es.test_accuracy = double(e.getTestCorrect()) / std::max<uint64_t>(1, e.getTestTotal());
          es.seconds = e.getEndMs() > e.getStartMs() ? (e.getEndMs() - e.getStartMs()) / 1000.0 : 0;
          es.end_seconds = e.getEndMs() / 1000.0;
          es.wait_seconds = e.getWaitMs() / 1e3;
          es.compute_seconds = e.getComputeMs() / 1e3;
          es.push_seconds = e.getPushMs() / 1e3;
          result.epochs.push_back(es);
          record({{"type", "epoch"},
                  {"epoch", es.epoch},
                  {"train_loss", es.train_loss},
                  {"test_accuracy", es.test_accuracy},
                  {"seconds", es.seconds},
                  {"end_elapsed", e.getEndMs() / 1000.0},
                  {"worker_compute_seconds", es.compute_seconds},
                  {"worker_wait_seconds", es.wait_seconds},
                  {"worker_push_seconds", es.push_seconds}});
          const double busy = es.wait_seconds + es.compute_seconds + es.push_seconds;
          auto pct = [busy](double v) { return busy > 0 ? 100.0 * v / busy : 0.0; };
          progress.Line(fmt::format(
              "epoch {}/{}  train loss {:.4f}  test accuracy {:.4f}  {:.1f} s  (workers: compute "
              "{:.0f}%, waiting for pulls {:.0f}%, pushing {:.0f}%)",
              es.epoch, job.train.epochs, es.train_loss, es.test_accuracy, es.seconds,
              pct(es.compute_seconds), pct(es.wait_seconds), pct(es.push_seconds)));
          ++epochs_reported;
        }
        if (state == proto::JobState::RUNNING && st.getSamplesPerEpoch() > 0) {
          const double total = double(st.getSamplesPerEpoch()) * job.train.epochs;
          ProgressSnapshot p;
          p.epochs = job.train.epochs;
          p.epoch = std::min<uint32_t>(job.train.epochs,
                                       static_cast<uint32_t>(samples / st.getSamplesPerEpoch()) + 1);
          p.fraction = samples / total;
          p.steps = steps;
          p.loss = recent_loss;
          p.samples_per_second = rate;
          p.eta_seconds = rate > 0 ? (total - samples) / rate : -1;
          if (!result.epochs.empty()) p.test_accuracy = result.epochs.back().test_accuracy;
          progress.Update(p);
        }
        if (state == proto::JobState::FAILED)
          return fail(Status::Aborted("the job failed: " + std::string(st.getMessage().cStr()) +
                                      " (logs: " + result.run_dir + "/logs)"));
        if (state == proto::JobState::DONE) break;
      } catch (const kj::Exception&) {
        // A status we cannot read (malformed text): ask again next round.
      }
    }
  }
  progress.Finish();
  // Every process ends by itself once the job is done; give them a moment.
  const auto deadline = Clock::now() + std::chrono::seconds(15);
  for (Proc& p : procs) {
    if (p.ended) continue;  // exited (and was handled) while the job ran
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    auto code = p.child.Wait(std::max(left, std::chrono::milliseconds(0)));
    if (!code) {
      progress.Line(p.name + " did not exit after the job ended; stopping it");
      p.child.Stop(std::chrono::milliseconds(2000));
    } else if (*code != 0) {
      progress.Line(fmt::format("warning: {} exited with status {} after the job ended (log: {})", p.name,
                                *code, p.child.log_path()));
    }
  }
  write_plots();
  if (result.epochs.empty()) return Status::Internal("the job ended without an evaluation");
  // Workers report their last leases after the epochs closed: the final counts.
  for (EpochSummary& e : result.epochs)
    if (e.epoch - 1 < epoch_samples.size()) e.samples = epoch_samples[e.epoch - 1];
  result.final_test_accuracy = result.epochs.back().test_accuracy;
  if (job.train.target_accuracy > 0 && result.final_test_accuracy >= job.train.target_accuracy) {
    result.target_reached = true;
    result.seconds_to_target = elapsed_s;
    progress.Line(fmt::format("reached the target test accuracy {:.4f} after epoch {} in {:.2f} s of training",
                              job.train.target_accuracy, result.epochs.back().epoch, elapsed_s));
  }
  result.wall_seconds = elapsed_s;
  result.samples_per_second = elapsed_s > 0 ? samples_done / elapsed_s : 0;
  PST_RETURN_IF_ERROR(WriteResultJson(result.run_dir + "/result.json", options, result));
  return result;
}

}  // namespace pst
