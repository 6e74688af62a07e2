// pstrain: the user CLI. `pstrain launch` runs a job on a local cluster of
// separate processes; `pstrain local` runs the same BSP schedule in one process;
// `pstrain status` shows a running job; `pstrain report` summarises a finished one;
// `pstrain export` and `pstrain eval` write out or evaluate a checkpoint's model;
// `pstrain checkpoint` and `pstrain scale` steer a running job; `pstrain drill`
// rehearses a failure.
#include <atomic>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/control_commands.h"
#include "cli/drill_command.h"
#include "cli/eval_command.h"
#include "cli/export_command.h"
#include "cli/job_flags.h"
#include "cli/key_setup.h"
#include "cli/launcher.h"
#include "cli/local_sparse_trainer.h"
#include "cli/local_trainer.h"
#include "cli/report_command.h"
#include "cli/status_command.h"
#include "common/role_main.h"
#include "worker/idx_reader.h"

namespace {

// --step-delay-ms and --worker-delay-ms: whole milliseconds up to
// pst::kMaxStepDelayMs (the bound ValidateLaunchOptions enforces), with one
// message for every bad value.
const CLI::Validator kStepDelayMs(
    [](std::string& value) -> std::string {
      const bool digits = !value.empty() && value.size() <= 9 &&
                          value.find_first_not_of("0123456789") == std::string::npos;
      if (digits && std::stoul(value) <= pst::kMaxStepDelayMs) return "";
      return fmt::format("expected milliseconds in [0, {}], got '{}'", pst::kMaxStepDelayMs, value);
    },
    "MS");

void ApplyProgress(const std::string& progress, pst::LaunchOptions* options) {
  if (progress == "bar") options->progress = pst::ProgressStyle::kBar;
  else if (progress == "lines") options->progress = pst::ProgressStyle::kLines;
  else if (progress == "quiet") options->progress = pst::ProgressStyle::kQuiet;
}

// Flags of `launch` and `drill` that override the job's [network] section.
struct NetworkFlags {
  std::optional<std::string> bind;
  std::optional<int32_t> admin_port;
  std::optional<uint64_t> heartbeat_ms, heartbeat_timeout_ms;
  std::optional<std::string> key_dir;
  bool secure = false;

  void Register(CLI::App& app) {
    app.add_option("--bind", bind, "Interface the processes bind [network.bind: 127.0.0.1]");
    app.add_option("--admin-port", admin_port,
                   "Port of the scheduler's HTTP dashboard (0 = any free port, -1 = none) "
                   "[network.admin_port: 0]");
    app.add_option("--heartbeat-ms", heartbeat_ms, "Heartbeat interval [network.heartbeat_ms: 500]");
    app.add_option("--heartbeat-timeout-ms", heartbeat_timeout_ms,
                   "Silence after which a node is dead [network.heartbeat_timeout_ms: 10000]");
    app.add_option("--key-dir", key_dir,
                   "The cluster's key directory (pstrain keygen DIR): CurveZMQ on every connection, "
                   "a token on the admin endpoint's POSTs [network.key_dir: none]");
    app.add_flag("--secure", secure,
                 "Make fresh cluster keys in the run directory (RUN_DIR/keys) unless --key-dir names some");
  }
  // The job's network settings with these flags applied, into `options`.
  pst::Status Apply(pst::LaunchOptions* options) const {
    pst::NetworkSpec& n = options->job.network;
    if (bind) n.bind = *bind;
    if (admin_port) n.admin_port = *admin_port;
    if (heartbeat_ms) n.heartbeat_ms = static_cast<uint32_t>(*heartbeat_ms);
    if (heartbeat_timeout_ms) n.heartbeat_timeout_ms = static_cast<uint32_t>(*heartbeat_timeout_ms);
    if (key_dir) n.key_dir = *key_dir;
    options->secure = secure;
    PST_RETURN_IF_ERROR(pst::ValidateNetworkSpec(n));
    options->bind_host = n.bind;
    options->admin_port = n.admin_port;
    options->heartbeat_interval = std::chrono::milliseconds(n.heartbeat_ms);
    options->heartbeat_timeout = std::chrono::milliseconds(n.heartbeat_timeout_ms);
    return pst::Status::OK();
  }
};

pst::Status RunLaunch(const pst::JobFlags& flags, const NetworkFlags& net, pst::LaunchOptions options,
                      const std::string& progress, uint64_t timeout_s) {
  PST_ASSIGN_OR_RETURN(options.job, flags.Resolve());
  PST_RETURN_IF_ERROR(net.Apply(&options));
  ApplyProgress(progress, &options);
  options.timeout = std::chrono::seconds(timeout_s);
  std::atomic<bool> interrupted{false};
  pst::StatusOr<pst::LaunchResult> result = pst::Status::OK();
  pst::Status s = pst::RunUntilSignalled(
      [&] {
        result = pst::Launch(options, interrupted, std::cout);
        return result.status();
      },
      [&] { interrupted = true; });
  if (!s.ok()) return s;
  const pst::LaunchResult& r = *result;
  std::cout << fmt::format("trained {} epochs in {:.1f} s ({:.0f} samples/s); model: {}; summary: {}/result.json\n",
                           r.epochs.size(), r.wall_seconds, r.samples_per_second,
                           options.job.sparse() ? "in the checkpoints (pstrain export " + r.run_dir + ")"
                                                : r.model_path,
                           r.run_dir);
  if (r.generation > 0 || r.restarts > 0)
    std::cout << fmt::format("recovered from failures: {} rollback(s), {} clocks redone, {} process restart(s)\n",
                             r.generation, r.redone_clocks, r.restarts);
  if (options.job.sparse())
    std::cout << fmt::format("final test AUC: {:.4f}\n", r.final_test_auc);
  else
    std::cout << fmt::format("final test accuracy: {:.4f}\n", r.final_test_accuracy);
  return pst::Status::OK();
}

pst::Status RunDrillCommand(const pst::JobFlags& flags, const NetworkFlags& net,
                            pst::DrillOptions options, const std::string& scenario,
                            const std::string& progress, bool* passed) {
  PST_ASSIGN_OR_RETURN(options.launch.job, flags.Resolve());
  PST_RETURN_IF_ERROR(net.Apply(&options.launch));
  PST_ASSIGN_OR_RETURN(options.scenario, pst::ParseFaultKind(scenario));
  ApplyProgress(progress, &options.launch);
  std::atomic<bool> interrupted{false};
  pst::DrillReport report;
  pst::Status s = pst::RunUntilSignalled(
      [&] { return pst::RunDrill(options, interrupted, std::cout, &report); },
      [&] { interrupted = true; });
  *passed = s.ok() && report.passed;
  return s;
}

// A sparse job in one process: the cluster's BSP schedule with the job's
// servers and workers (cli/local_sparse_trainer.h).
pst::Status RunLocalSparse(const pst::JobSpec& job) {
  std::cout << fmt::format("training {} on {} in one process ({} PS + {} worker(s), BSP)\n",
                           pst::ModelKindName(job.model.kind), job.sparse_data.train,
                           job.num_servers, job.num_workers);
  pst::SparseLocalOptions lo;
  lo.num_workers = job.num_workers;
  lo.on_epoch = [&](const pst::SparseLocalEpoch& e) {
    std::cout << fmt::format(
                     "epoch {}/{}  train loss {:.4f}  test AUC {:.4f}  test log-loss {:.4f}  "
                     "test accuracy {:.4f}  {:.1f} s\n",
                     e.epoch + 1, job.train.epochs, e.train_loss, e.test_auc, e.test_log_loss,
                     e.test_accuracy, e.seconds)
              << std::flush;
  };
  PST_ASSIGN_OR_RETURN(pst::SparseLocalResult r, pst::TrainSparseLocal(job, lo));
  std::cout << fmt::format("trained in {:.1f} s ({:.0f} samples/s)\n", r.train_seconds,
                           r.samples / std::max(1e-9, r.train_seconds));
  for (const pst::SparseLocalTable& t : r.tables)
    std::cout << fmt::format("table {}: {} rows, {} evicted, {} updates dropped before admission\n",
                             t.name, t.rows, t.evicted, t.unadmitted_updates);
  std::cout << fmt::format("final test AUC: {:.4f}\n", r.test_auc);
  return pst::Status::OK();
}

pst::Status RunLocal(const pst::JobFlags& flags) {
  PST_ASSIGN_OR_RETURN(pst::JobSpec job, flags.Resolve());
  if (job.sparse()) return RunLocalSparse(job);
  std::cout << "loading data from " << job.data_dir << "\n";
  PST_ASSIGN_OR_RETURN(pst::Dataset train, pst::LoadFashionMnist(job.data_dir, true, job.train.train_limit));
  PST_ASSIGN_OR_RETURN(pst::Dataset test, pst::LoadFashionMnist(job.data_dir, false, job.train.test_limit));
  pst::LocalOptions lo;
  lo.num_workers = job.num_workers;
  lo.on_epoch = [&](const pst::LocalEpoch& e) {
    std::cout << fmt::format("epoch {}/{}  train loss {:.4f}  test accuracy {:.4f}  {:.1f} s\n", e.epoch + 1,
                             job.train.epochs, e.train_loss, e.test_accuracy, e.seconds)
              << std::flush;
  };
  PST_ASSIGN_OR_RETURN(pst::LocalResult r, pst::TrainLocal(job, train, test, lo));
  std::cout << fmt::format("trained in {:.1f} s ({:.0f} samples/s)\n", r.train_seconds,
                           r.samples / std::max(1e-9, r.train_seconds));
  std::cout << fmt::format("final test accuracy: {:.4f}\n", r.epochs.back().test_accuracy);
  return pst::Status::OK();
}

// One `pstrain` subcommand: its constructor registers the subcommand and its
// flags on the app; Run, called only for the subcommand the user chose, after
// parsing, does the work. A non-error outcome that still fails the command (a
// drill that did not pass) sets *exit_code.
class Subcommand {
 public:
  virtual ~Subcommand() = default;
  bool chosen() const { return app_ != nullptr && app_->parsed(); }
  virtual pst::Status Run(int* exit_code) = 0;

 protected:
  CLI::App* app_ = nullptr;
};

class LaunchCommand : public Subcommand {
 public:
  explicit LaunchCommand(CLI::App& parent) {
    app_ = parent.add_subcommand("launch", "Run a job on a local cluster: 1 scheduler + N PS + M workers");
    flags_.Register(*app_);
    app_->add_option("--run-dir", options_.run_dir, "Run directory (default: a new one under ./runs/)");
    app_->add_option("--bin-dir", options_.bin_dir, "Where the pstrain-* role binaries are (default: next to pstrain)");
    app_->add_option("--progress", progress_, "auto|bar|lines|quiet")
        ->check(CLI::IsMember({"auto", "bar", "lines", "quiet"}))->capture_default_str();
    app_->add_option("--timeout-s", timeout_s_, "Stop the job after this many seconds (0 = never)")->capture_default_str();
    net_.Register(*app_);
    app_->add_option("--step-delay-ms", options_.step_delay_ms,
                     "Every worker (also replacements and scale-ups) sleeps this long before each "
                     "step, on top of its compute: emulates slower or remote machines")
        ->check(kStepDelayMs);
    app_->add_option("--worker-delay-ms", options_.straggler_delay_ms,
                     "One worker (the first started) sleeps this much longer before each step: a "
                     "straggler")
        ->check(kStepDelayMs);
    app_->add_option("--log-level", options_.log_level, "trace|debug|info|warn|error|off")
        ->capture_default_str();
    app_->add_flag("--pin-cpus", options_.pin_cpus,
                   "Give each worker's training thread a CPU of its own, everything else the "
                   "other CPUs (needs more CPUs than workers)");
    app_->add_flag("--no-supervise", no_supervise_,
                   "Do not restart a dead PS or scheduler, nor replace dead workers");
    app_->add_option("--recovery-timeout-s", recovery_timeout_s_,
                     "The job fails after waiting this long for a replacement PS, or for any "
                     "worker when none is left (0 = the scheduler's default, 120 s)")
        ->capture_default_str();
    app_->footer(
        "Examples:\n"
        "  pstrain launch                                  # the default job: Fashion-MNIST MLP, 2 PS + 2 workers\n"
        "  pstrain launch --servers 3 --workers 4 --epochs 10\n"
        "  pstrain launch --job examples/fashion_mnist_mlp.toml --lr 0.002\n"
        "  pstrain launch --admin-port 8080                # dashboard at http://127.0.0.1:8080/\n"
        "  pstrain launch --workers 1 --step-delay-ms 10   # every worker also sleeps 10 ms a step (emulated compute)\n"
        "  pstrain launch --run-dir runs/big               # again later: resumes from its last checkpoint");
  }
  pst::Status Run(int*) override {
    options_.supervise = !no_supervise_;
    options_.recovery_timeout = std::chrono::seconds(recovery_timeout_s_);
    return RunLaunch(flags_, net_, options_, progress_, timeout_s_);
  }

 private:
  pst::JobFlags flags_;
  pst::LaunchOptions options_;
  NetworkFlags net_;
  std::string progress_ = "auto";
  uint64_t timeout_s_ = 0, recovery_timeout_s_ = 0;
  bool no_supervise_ = false;
};

class LocalCommand : public Subcommand {
 public:
  explicit LocalCommand(CLI::App& parent) {
    app_ = parent.add_subcommand("local", "Train in one process (no network): the reference BSP schedule");
    flags_.Register(*app_);
    app_->footer("Example:\n  pstrain local --epochs 1 --workers 2");
  }
  pst::Status Run(int*) override { return RunLocal(flags_); }

 private:
  pst::JobFlags flags_;
};

class StatusCommand : public Subcommand {
 public:
  explicit StatusCommand(CLI::App& parent) {
    app_ = parent.add_subcommand("status", "Show a running job's nodes and progress");
    auto* scheduler = app_->add_option("--scheduler", options_.scheduler, "The scheduler's address");
    app_->add_option("--run-dir", options_.run_dir,
                     "Run directory of a `pstrain launch` (reads DIR/scheduler.endpoint)")
        ->excludes(scheduler);
    app_->add_flag("--json", options_.json, "Print the raw status as JSON");
    pst::AddKeyDirFlag(*app_, &options_.key_dir);
    app_->add_option("--timeout-ms", timeout_ms_, "How long to wait for the scheduler")->capture_default_str();
    app_->footer(
        "Examples:\n"
        "  pstrain status --run-dir runs/20261123-061500-4242\n"
        "  pstrain status --scheduler tcp://127.0.0.1:7000\n"
        "  pstrain status --scheduler tcp://trainer-1:7000 --json");
  }
  pst::Status Run(int*) override {
    options_.timeout = std::chrono::milliseconds(timeout_ms_);
    return pst::RunStatusCommand(options_, std::cout);
  }

 private:
  pst::StatusCommandOptions options_;
  uint64_t timeout_ms_ = options_.timeout.count();
};

class ReportCommand : public Subcommand {
 public:
  explicit ReportCommand(CLI::App& parent) {
    app_ = parent.add_subcommand("report", "Summarise a finished run from its run directory");
    app_->add_option("RUN_DIR", options_.run_dir, "Run directory of a `pstrain launch`")->required();
    app_->add_flag("--json", options_.json, "Print the summary as JSON");
    app_->footer(
        "Prints the job, a per-epoch table (train loss, test accuracy, seconds, workers' compute/wait/push\n"
        "shares), the final accuracy, training time, throughput, whether the target accuracy was reached,\n"
        "and the plots and model in the run directory.\n"
        "Examples:\n"
        "  pstrain report runs/20261123-061500-4242\n"
        "  pstrain report runs/20261123-061500-4242 --json");
  }
  pst::Status Run(int*) override { return pst::RunReportCommand(options_, std::cout); }

 private:
  pst::ReportOptions options_;
};

class ExportCommand : public Subcommand {
 public:
  explicit ExportCommand(CLI::App& parent) {
    app_ = parent.add_subcommand("export", "Write a checkpoint's model (safetensors; .npy files for sparse)");
    app_->add_option("RUN_DIR", options_.run_dir, "Run directory of a `pstrain launch`")->required();
    app_->add_option("--checkpoint", options_.checkpoint, "Checkpoint id (default: the latest complete one)");
    app_->add_option("--out", options_.out,
                     "Output file, or directory for a sparse model (default: "
                     "RUN_DIR/export/model-<id>.safetensors or RUN_DIR/export/model-<id>/)");
    app_->footer(pst::kExportHelpFooter);
  }
  pst::Status Run(int*) override { return pst::RunExportCommand(options_, std::cout); }

 private:
  pst::ExportOptions options_;
};

class EvalCommand : public Subcommand {
 public:
  explicit EvalCommand(CLI::App& parent) {
    app_ = parent.add_subcommand("eval", "Evaluate a checkpoint's model on the test set");
    app_->add_option("RUN_DIR", options_.run_dir, "Run directory of a `pstrain launch`")->required();
    app_->add_option("--checkpoint", options_.checkpoint, "Checkpoint id (default: the latest complete one)");
    app_->add_option("--data-dir", options_.data_dir,
                     "Directory with the Fashion-MNIST IDX files (default: the job's data directory)");
    app_->add_option("--test", options_.test_file,
                     "Sparse models: test file in the job's data format (default: the job's "
                     "data.test)");
    app_->add_flag("--json", options_.json, "Print the result as JSON");
    app_->footer(
        "Evaluates the model of a complete checkpoint (the latest unless --checkpoint) on the\n"
        "Fashion-MNIST test split (the job's test_limit applies) with the workers' code, and prints\n"
        "the test accuracy and mean loss; a sparse model (lr, fm, embedding_mlp) on the job's test\n"
        "file (or --test), printing test AUC, log-loss and accuracy as its workers compute them.\n"
        "Works on a running job and on a finished one.\n"
        "Examples:\n"
        "  pstrain eval runs/20261123-061500-4242\n"
        "  pstrain eval runs/20261123-061500-4242 --checkpoint 12 --json");
  }
  pst::Status Run(int*) override { return pst::RunEvalCommand(options_, std::cout); }

 private:
  pst::EvalOptions options_;
};

// --scheduler or --run-dir, and the key directory, of the commands that steer a running job.
void AddControlTarget(CLI::App& app, pst::ControlTarget* target) {
  auto* scheduler = app.add_option("--scheduler", target->scheduler, "The scheduler's address");
  app.add_option("--run-dir", target->run_dir, "Run directory of a `pstrain launch`")->excludes(scheduler);
  pst::AddKeyDirFlag(app, &target->key_dir);
}

class CheckpointCommand : public Subcommand {
 public:
  explicit CheckpointCommand(CLI::App& parent) {
    app_ = parent.add_subcommand("checkpoint", "Take a coordinated checkpoint of a running job now");
    AddControlTarget(*app_, &target_);
    app_->add_option("--timeout-s", timeout_s_, "How long to wait for it to complete")->capture_default_str();
    app_->footer(
        "Every PS captures its shard at one clock boundary and writes it to its RocksDB store; the\n"
        "checkpoint counts once all have (the scheduler records it). Prints its id and clock.\n"
        "Examples:\n"
        "  pstrain checkpoint --run-dir runs/20261123-061500-4242\n"
        "  pstrain checkpoint --scheduler tcp://127.0.0.1:7000 --timeout-s 120");
  }
  pst::Status Run(int*) override {
    return pst::RunCheckpointCommand(target_, std::chrono::seconds(timeout_s_), std::cout);
  }

 private:
  pst::ControlTarget target_;
  uint64_t timeout_s_ = 60;
};

class ScaleCommand : public Subcommand {
 public:
  explicit ScaleCommand(CLI::App& parent) {
    app_ = parent.add_subcommand("scale", "Change the number of workers of a running job");
    AddControlTarget(*app_, &target_);
    app_->add_option("--workers", workers_, "Workers the job should have")->required()->check(CLI::Range(1, 4096));
    app_->footer(
        "Scaling down, the newest workers hand back their data-shard leases and leave. Scaling up,\n"
        "the supervising `pstrain launch` starts more workers (any pstrain-worker pointed at the\n"
        "scheduler also joins). Training continues throughout.\n"
        "Examples:\n"
        "  pstrain scale --run-dir runs/20261123-061500-4242 --workers 4\n"
        "  pstrain scale --scheduler tcp://127.0.0.1:7000 --workers 1");
  }
  pst::Status Run(int*) override { return pst::RunScaleCommand(target_, workers_, std::cout); }

 private:
  pst::ControlTarget target_;
  uint32_t workers_ = 0;
};

class DrillCommand : public Subcommand {
 public:
  explicit DrillCommand(CLI::App& parent) {
    app_ = parent.add_subcommand("drill", "Rehearse a failure: run a job with and without a fault and compare");
    app_->add_option("SCENARIO", scenario_,
                     "kill-worker|kill-ps|kill-scheduler|add-workers|remove-workers|pause-worker")
        ->required();
    flags_.Register(*app_);
    app_->add_option("--run-dir", options_.launch.run_dir, "Directory for the two runs (baseline/, fault/)")
        ->capture_default_str();
    app_->add_option("--drill-seed", options_.seed, "Seeds the moment and the target")->capture_default_str();
    app_->add_option("--at", options_.at, "Inject at this fraction of the job's samples (0-1)")
        ->check(CLI::Range(0.01, 0.99));
    app_->add_option("--target", options_.target, "Index of the worker or PS to hit");
    app_->add_option("--count", options_.count, "Workers to add or remove")->capture_default_str();
    app_->add_option("--pause-s", options_.pause_seconds, "pause-worker: seconds stopped")->capture_default_str();
    app_->add_option("--tolerance", options_.tolerance_pp,
                     "Largest accuracy loss (sparse models: test AUC) against the baseline, in "
                     "percentage points")
        ->capture_default_str();
    app_->add_option("--baseline-accuracy", options_.baseline_accuracy,
                     "Skip the baseline run and compare against this accuracy (sparse models: "
                     "test AUC)");
    app_->add_option("--step-delay-ms", options_.launch.step_delay_ms,
                     "Every worker sleeps this long before each step in both runs (stretches a "
                     "short job so the fault lands mid-training)")
        ->check(kStepDelayMs);
    net_.Register(*app_);
    app_->add_option("--progress", progress_, "auto|bar|lines|quiet")
        ->check(CLI::IsMember({"auto", "bar", "lines", "quiet"}))->capture_default_str();
    app_->footer(
        "Prints time to detect, time to recover, clocks redone and the final accuracy (sparse\n"
        "models: test AUC) against the fault-free run; exits 1 if the job did not recover or lost\n"
        "more than --tolerance points.\n"
        "Examples:\n"
        "  pstrain drill kill-worker --epochs 2\n"
        "  pstrain drill kill-ps --at 0.5 --target 1 --checkpoint-every-steps 100\n"
        "  pstrain drill pause-worker --pause-s 5 --drill-seed 7\n"
        "  pstrain drill kill-scheduler --job examples/spam_fm.toml --checkpoint-every-steps 50");
  }
  pst::Status Run(int* exit_code) override {
    if (options_.launch.run_dir.empty()) options_.launch.run_dir = "runs/drill";
    // Drills detect faults faster than a production job would by default.
    if (!net_.heartbeat_ms) net_.heartbeat_ms = 100;
    if (!net_.heartbeat_timeout_ms) net_.heartbeat_timeout_ms = 1000;
    bool passed = false;
    pst::Status s = RunDrillCommand(flags_, net_, options_, scenario_, progress_, &passed);
    if (s.ok() && !passed) *exit_code = 1;
    return s;
  }

 private:
  pst::JobFlags flags_;
  pst::DrillOptions options_;
  NetworkFlags net_;
  std::string scenario_, progress_ = "lines";
};

class KeygenCommand : public Subcommand {
 public:
  explicit KeygenCommand(CLI::App& parent) {
    app_ = parent.add_subcommand("keygen", "Make a cluster key: CurveZMQ keys and an admin token");
    app_->add_option("DIR", dir_, "Directory to create (mode 0700) and write the keys into")->required();
    app_->footer(
        "Writes DIR/cluster.key and DIR/admin.token (mode 0600) and never overwrites existing keys.\n"
        "With --key-dir DIR every pstrain binary encrypts its connections and admits only peers\n"
        "holding the key.\n"
        "Example:\n"
        "  pstrain keygen /etc/pstrain/cluster-a && pstrain launch --key-dir /etc/pstrain/cluster-a");
  }
  pst::Status Run(int*) override { return pst::RunKeygenCommand(dir_, std::cout); }

 private:
  std::string dir_;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"pstrain: distributed parameter-server training.", "pstrain"};
  app.require_subcommand(1);
  app.footer("Run 'pstrain SUBCOMMAND --help' for a subcommand's flags.");
  std::vector<std::unique_ptr<Subcommand>> commands;
  commands.push_back(std::make_unique<LaunchCommand>(app));
  commands.push_back(std::make_unique<LocalCommand>(app));
  commands.push_back(std::make_unique<StatusCommand>(app));
  commands.push_back(std::make_unique<ReportCommand>(app));
  commands.push_back(std::make_unique<ExportCommand>(app));
  commands.push_back(std::make_unique<EvalCommand>(app));
  commands.push_back(std::make_unique<CheckpointCommand>(app));
  commands.push_back(std::make_unique<ScaleCommand>(app));
  commands.push_back(std::make_unique<DrillCommand>(app));
  commands.push_back(std::make_unique<KeygenCommand>(app));
  if (auto code = pst::ParseFlags(app, argc, argv)) return *code;
  pst::Status s;
  int exit_code = 0;
  for (auto& command : commands)
    if (command->chosen()) s = command->Run(&exit_code);
  if (s.ok() && exit_code != 0) return exit_code;
  if (s.code() == pst::StatusCode::kCancelled) {
    std::fprintf(stderr, "pstrain: interrupted; all processes stopped\n");
    return 130;
  }
  return pst::ExitCodeFor("pstrain", s);
}
