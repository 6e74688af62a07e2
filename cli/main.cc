// pstrain: the user CLI. `pstrain launch` runs a job on a local cluster of
// separate processes; `pstrain local` runs the same BSP schedule in one process;
// `pstrain status` shows a running job; `pstrain report` summarises a finished one;
// `pstrain export` and `pstrain eval` write out or evaluate a checkpoint's model;
// `pstrain checkpoint` and `pstrain scale` steer a running job; `pstrain drill`
// rehearses a failure.
#include <atomic>
#include <cstdio>
#include <iostream>
#include <optional>

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

// A sparse job in one process: the 1-worker BSP schedule (cli/local_sparse_trainer.h).
pst::Status RunLocalSparse(const pst::JobSpec& job) {
  std::cout << fmt::format("training {} on {} in one process (1 worker, BSP)\n",
                           pst::ModelKindName(job.model.kind), job.sparse_data.train);
  pst::SparseLocalOptions lo;
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
  std::cout << fmt::format("final test AUC: {:.4f}\n", r.test_auc);
  return pst::Status::OK();
}

pst::Status RunLocal(const pst::JobFlags& flags, uint32_t workers_override) {
  PST_ASSIGN_OR_RETURN(pst::JobSpec job, flags.Resolve());
  if (job.sparse()) return RunLocalSparse(job);
  std::cout << "loading data from " << job.data_dir << "\n";
  PST_ASSIGN_OR_RETURN(pst::Dataset train, pst::LoadFashionMnist(job.data_dir, true, job.train.train_limit));
  PST_ASSIGN_OR_RETURN(pst::Dataset test, pst::LoadFashionMnist(job.data_dir, false, job.train.test_limit));
  pst::LocalOptions lo;
  lo.num_workers = workers_override ? workers_override : job.num_workers;
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"pstrain: distributed parameter-server training.", "pstrain"};
  app.require_subcommand(1);
  app.footer("Run 'pstrain SUBCOMMAND --help' for a subcommand's flags.");

  pst::JobFlags launch_flags;
  pst::LaunchOptions launch_options;
  std::string progress = "auto";
  uint64_t timeout_s = 0;
  NetworkFlags launch_net;
  auto* launch = app.add_subcommand("launch", "Run a job on a local cluster: 1 scheduler + N PS + M workers");
  launch_flags.Register(*launch);
  launch->add_option("--run-dir", launch_options.run_dir, "Run directory (default: a new one under ./runs/)");
  launch->add_option("--bin-dir", launch_options.bin_dir, "Where the pstrain-* role binaries are (default: next to pstrain)");
  launch->add_option("--progress", progress, "auto|bar|lines|quiet")
      ->check(CLI::IsMember({"auto", "bar", "lines", "quiet"}))->capture_default_str();
  launch->add_option("--timeout-s", timeout_s, "Stop the job after this many seconds (0 = never)")->capture_default_str();
  launch_net.Register(*launch);
  launch->add_option("--step-delay-ms", launch_options.step_delay_ms,
                     "Every worker (also replacements and scale-ups) sleeps this long before each "
                     "step, on top of its compute: emulates slower or remote machines")
      ->check(kStepDelayMs);
  launch->add_option("--worker-delay-ms", launch_options.straggler_delay_ms,
                     "One worker (the first started) sleeps this much longer before each step: a "
                     "straggler")
      ->check(kStepDelayMs);
  launch->add_option("--log-level", launch_options.log_level, "trace|debug|info|warn|error|off")
      ->capture_default_str();
  launch->add_flag("--pin-cpus", launch_options.pin_cpus,
                   "Give each worker's training thread a CPU of its own, everything else the "
                   "other CPUs (needs more CPUs than workers)");
  bool no_supervise = false;
  launch->add_flag("--no-supervise", no_supervise,
                   "Do not restart a dead PS or scheduler, nor replace dead workers");
  uint64_t recovery_timeout_s = 0;
  launch->add_option("--recovery-timeout-s", recovery_timeout_s,
                     "The job fails after waiting this long for a replacement PS, or for any "
                     "worker when none is left (0 = the scheduler's default, 120 s)")
      ->capture_default_str();
  launch->footer(
      "Examples:\n"
      "  pstrain launch                                  # the default job: Fashion-MNIST MLP, 2 PS + 2 workers\n"
      "  pstrain launch --servers 3 --workers 4 --epochs 10\n"
      "  pstrain launch --job examples/fashion_mnist_mlp.toml --lr 0.002\n"
      "  pstrain launch --admin-port 8080                # dashboard at http://127.0.0.1:8080/\n"
      "  pstrain launch --workers 1 --step-delay-ms 10   # every worker also sleeps 10 ms a step (emulated compute)\n"
      "  pstrain launch --run-dir runs/big               # again later: resumes from its last checkpoint");

  pst::JobFlags local_flags;
  uint32_t local_workers = 0;
  auto* local = app.add_subcommand("local", "Train in one process (no network): the reference BSP schedule");
  local_flags.Register(*local);
  local->footer("Example:\n  pstrain local --epochs 1 --workers 2");

  pst::StatusCommandOptions status_options;
  uint64_t status_timeout_ms = status_options.timeout.count();
  auto* status = app.add_subcommand("status", "Show a running job's nodes and progress");
  auto* status_scheduler =
      status->add_option("--scheduler", status_options.scheduler, "The scheduler's address");
  status->add_option("--run-dir", status_options.run_dir,
                     "Run directory of a `pstrain launch` (reads DIR/scheduler.endpoint)")
      ->excludes(status_scheduler);
  status->add_flag("--json", status_options.json, "Print the raw status as JSON");
  pst::AddKeyDirFlag(*status, &status_options.key_dir);
  status->add_option("--timeout-ms", status_timeout_ms, "How long to wait for the scheduler")
      ->capture_default_str();
  status->footer(
      "Examples:\n"
      "  pstrain status --run-dir runs/20261123-061500-4242\n"
      "  pstrain status --scheduler tcp://127.0.0.1:7000\n"
      "  pstrain status --scheduler tcp://trainer-1:7000 --json");

  pst::ReportOptions report_options;
  auto* report = app.add_subcommand("report", "Summarise a finished run from its run directory");
  report->add_option("RUN_DIR", report_options.run_dir, "Run directory of a `pstrain launch`")->required();
  report->add_flag("--json", report_options.json, "Print the summary as JSON");
  report->footer(
      "Prints the job, a per-epoch table (train loss, test accuracy, seconds, workers' compute/wait/push\n"
      "shares), the final accuracy, training time, throughput, whether the target accuracy was reached,\n"
      "and the plots and model in the run directory.\n"
      "Examples:\n"
      "  pstrain report runs/20261123-061500-4242\n"
      "  pstrain report runs/20261123-061500-4242 --json");

  pst::ExportOptions export_options;
  uint64_t export_checkpoint = 0;
  auto* export_cmd =
      app.add_subcommand("export", "Write a checkpoint's model (safetensors; .npy files for sparse)");
  export_cmd->add_option("RUN_DIR", export_options.run_dir, "Run directory of a `pstrain launch`")
      ->required();
  auto* export_checkpoint_opt = export_cmd->add_option(
      "--checkpoint", export_checkpoint, "Checkpoint id (default: the latest complete one)");
  export_cmd->add_option("--out", export_options.out,
                         "Output file, or directory for a sparse model (default: "
                         "RUN_DIR/export/model-<id>.safetensors or RUN_DIR/export/model-<id>/)");
  export_cmd->footer(pst::kExportHelpFooter);

  pst::EvalOptions eval_options;
  uint64_t eval_checkpoint = 0;
  auto* eval = app.add_subcommand("eval", "Evaluate a checkpoint's model on the test set");
  eval->add_option("RUN_DIR", eval_options.run_dir, "Run directory of a `pstrain launch`")
      ->required();
  auto* eval_checkpoint_opt = eval->add_option("--checkpoint", eval_checkpoint,
                                               "Checkpoint id (default: the latest complete one)");
  eval->add_option(
      "--data-dir", eval_options.data_dir,
      "Directory with the Fashion-MNIST IDX files (default: the job's data directory)");
  eval->add_option("--test", eval_options.test_file,
                   "Sparse models: test file in the job's data format (default: the job's "
                   "data.test)");
  eval->add_flag("--json", eval_options.json, "Print the result as JSON");
  eval->footer(
      "Evaluates the model of a complete checkpoint (the latest unless --checkpoint) on the\n"
      "Fashion-MNIST test split (the job's test_limit applies) with the workers' code, and prints\n"
      "the test accuracy and mean loss; a sparse model (lr, fm, embedding_mlp) on the job's test\n"
      "file (or --test), printing test AUC, log-loss and accuracy as its workers compute them.\n"
      "Works on a running job and on a finished one.\n"
      "Examples:\n"
      "  pstrain eval runs/20261123-061500-4242\n"
      "  pstrain eval runs/20261123-061500-4242 --checkpoint 12 --json");

  pst::ControlTarget control;
  uint64_t checkpoint_timeout_s = 60;
  auto* checkpoint = app.add_subcommand("checkpoint", "Take a coordinated checkpoint of a running job now");
  auto* checkpoint_sched = checkpoint->add_option("--scheduler", control.scheduler, "The scheduler's address");
  checkpoint->add_option("--run-dir", control.run_dir, "Run directory of a `pstrain launch`")
      ->excludes(checkpoint_sched);
  pst::AddKeyDirFlag(*checkpoint, &control.key_dir);
  checkpoint->add_option("--timeout-s", checkpoint_timeout_s, "How long to wait for it to complete")
      ->capture_default_str();
  checkpoint->footer(
      "Every PS captures its shard at one clock boundary and writes it to its RocksDB store; the\n"
      "checkpoint counts once all have (the scheduler records it). Prints its id and clock.\n"
      "Examples:\n"
      "  pstrain checkpoint --run-dir runs/20261123-061500-4242\n"
      "  pstrain checkpoint --scheduler tcp://127.0.0.1:7000 --timeout-s 120");

  uint32_t scale_workers = 0;
  auto* scale = app.add_subcommand("scale", "Change the number of workers of a running job");
  auto* scale_sched = scale->add_option("--scheduler", control.scheduler, "The scheduler's address");
  scale->add_option("--run-dir", control.run_dir, "Run directory of a `pstrain launch`")
      ->excludes(scale_sched);
  pst::AddKeyDirFlag(*scale, &control.key_dir);
  scale->add_option("--workers", scale_workers, "Workers the job should have")->required()
      ->check(CLI::Range(1, 4096));
  scale->footer(
      "Scaling down, the newest workers hand back their data-shard leases and leave. Scaling up,\n"
      "the supervising `pstrain launch` starts more workers (any pstrain-worker pointed at the\n"
      "scheduler also joins). Training continues throughout.\n"
      "Examples:\n"
      "  pstrain scale --run-dir runs/20261123-061500-4242 --workers 4\n"
      "  pstrain scale --scheduler tcp://127.0.0.1:7000 --workers 1");

  pst::JobFlags drill_flags;
  pst::DrillOptions drill_options;
  std::string drill_scenario, drill_progress = "lines";
  double drill_at = 0;
  uint32_t drill_target = 0;
  NetworkFlags drill_net;
  auto* drill = app.add_subcommand("drill", "Rehearse a failure: run a job with and without a fault and compare");
  drill->add_option("SCENARIO", drill_scenario,
                    "kill-worker|kill-ps|kill-scheduler|add-workers|remove-workers|pause-worker")
      ->required();
  drill_flags.Register(*drill);
  drill->add_option("--run-dir", drill_options.launch.run_dir,
                    "Directory for the two runs (baseline/, fault/)")->capture_default_str();
  drill->add_option("--drill-seed", drill_options.seed, "Seeds the moment and the target")->capture_default_str();
  auto* drill_at_opt = drill->add_option("--at", drill_at, "Inject at this fraction of the job's samples (0-1)")
                           ->check(CLI::Range(0.01, 0.99));
  auto* drill_target_opt = drill->add_option("--target", drill_target, "Index of the worker or PS to hit");
  drill->add_option("--count", drill_options.count, "Workers to add or remove")->capture_default_str();
  drill->add_option("--pause-s", drill_options.pause_seconds, "pause-worker: seconds stopped")->capture_default_str();
  drill->add_option("--tolerance", drill_options.tolerance_pp,
                    "Largest accuracy loss against the baseline, in percentage points")->capture_default_str();
  double drill_baseline = 0;
  auto* drill_baseline_opt = drill->add_option("--baseline-accuracy", drill_baseline,
                                               "Skip the baseline run and compare against this accuracy");
  drill_net.Register(*drill);
  drill->add_option("--progress", drill_progress, "auto|bar|lines|quiet")
      ->check(CLI::IsMember({"auto", "bar", "lines", "quiet"}))->capture_default_str();
  drill->footer(
      "Prints time to detect, time to recover, clocks redone and the final accuracy against the\n"
      "fault-free run; exits 1 if the job did not recover or lost more than --tolerance points.\n"
      "Examples:\n"
      "  pstrain drill kill-worker --epochs 2\n"
      "  pstrain drill kill-ps --at 0.5 --target 1 --checkpoint-every-steps 100\n"
      "  pstrain drill pause-worker --pause-s 5 --drill-seed 7");

  std::string keygen_dir;
  auto* keygen = app.add_subcommand("keygen", "Make a cluster key: CurveZMQ keys and an admin token");
  keygen->add_option("DIR", keygen_dir, "Directory to create (mode 0700) and write the keys into")->required();
  keygen->footer(
      "Writes DIR/cluster.key and DIR/admin.token (mode 0600) and never overwrites existing keys.\n"
      "With --key-dir DIR every pstrain binary encrypts its connections and admits only peers\n"
      "holding the key.\n"
      "Example:\n"
      "  pstrain keygen /etc/pstrain/cluster-a && pstrain launch --key-dir /etc/pstrain/cluster-a");

  if (auto code = pst::ParseFlags(app, argc, argv)) return *code;
  if (export_checkpoint_opt->count() > 0) export_options.checkpoint = export_checkpoint;
  if (eval_checkpoint_opt->count() > 0) eval_options.checkpoint = eval_checkpoint;
  launch_options.supervise = !no_supervise;
  launch_options.recovery_timeout = std::chrono::seconds(recovery_timeout_s);
  pst::Status s;
  if (*keygen) s = pst::RunKeygenCommand(keygen_dir, std::cout);
  else if (*launch) s = RunLaunch(launch_flags, launch_net, launch_options, progress, timeout_s);
  else if (*local) s = RunLocal(local_flags, local_workers);
  else if (*status) {
    status_options.timeout = std::chrono::milliseconds(status_timeout_ms);
    s = pst::RunStatusCommand(status_options, std::cout);
  } else if (*report) {
    s = pst::RunReportCommand(report_options, std::cout);
  } else if (*export_cmd) {
    s = pst::RunExportCommand(export_options, std::cout);
  } else if (*eval) {
    s = pst::RunEvalCommand(eval_options, std::cout);
  } else if (*checkpoint) {
    s = pst::RunCheckpointCommand(control, std::chrono::seconds(checkpoint_timeout_s), std::cout);
  } else if (*scale) {
    s = pst::RunScaleCommand(control, scale_workers, std::cout);
  } else if (*drill) {
    if (drill_at_opt->count() > 0) drill_options.at = drill_at;
    if (drill_target_opt->count() > 0) drill_options.target = drill_target;
    if (drill_baseline_opt->count() > 0) drill_options.baseline_accuracy = drill_baseline;
    if (drill_options.launch.run_dir.empty()) drill_options.launch.run_dir = "runs/drill";
    // Drills detect faults faster than a production job would by default.
    if (!drill_net.heartbeat_ms) drill_net.heartbeat_ms = 100;
    if (!drill_net.heartbeat_timeout_ms) drill_net.heartbeat_timeout_ms = 1000;
    bool passed = false;
    s = RunDrillCommand(drill_flags, drill_net, drill_options, drill_scenario, drill_progress, &passed);
    if (s.ok() && !passed) return 1;
  }
  if (s.code() == pst::StatusCode::kCancelled) {
    std::fprintf(stderr, "pstrain: interrupted; all processes stopped\n");
    return 130;
  }
  return pst::ExitCodeFor("pstrain", s);
}
