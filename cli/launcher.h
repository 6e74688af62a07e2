// pst::Launch: runs one job on this machine as separate processes: one
// pstrain-scheduler, job.num_servers pstrain-ps and job.num_workers
// pstrain-worker, all on loopback TCP. It shows progress, and stops every
// process at the end, on failure or when *interrupted becomes true (Ctrl-C).
// Each run has a directory holding the job file, one log per process, the
// state of the scheduler and of every PS shard (state/scheduler,
// state/ps-<k>: RocksDB), the final model (model.safetensors) and a summary
// (result.json). A run directory that already holds a job's state resumes
// that job from its last complete checkpoint. With options.supervise it
// restarts a dead PS or scheduler and keeps the worker count the scheduler
// asks for; options.fault injects one fault for drills.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "cli/fault_plan.h"
#include "common/job_spec.h"
#include "common/status.h"

namespace pst {

enum class ProgressStyle { kAuto, kBar, kLines, kQuiet };

// Largest LaunchOptions::step_delay_ms and straggler_delay_ms.
inline constexpr uint32_t kMaxStepDelayMs = 60000;

struct LaunchOptions {
  JobSpec job;
  // Run directory; "" makes a fresh one under ./runs/. Default: "".
  std::string run_dir;
  // Directory holding pstrain-scheduler, pstrain-ps and pstrain-worker; "" =
  // the directory of the running executable. Default: "".
  std::string bin_dir;
  // Interface every process binds. Default: 127.0.0.1.
  std::string bind_host = "127.0.0.1";
  // Heartbeat interval and dead-node timeout. Defaults: 500 ms, 10 s.
  std::chrono::milliseconds heartbeat_interval{500};
  std::chrono::milliseconds heartbeat_timeout{10000};
  // Log level of the processes. Default: info.
  std::string log_level = "info";
  // kAuto: a bar on a terminal, log lines otherwise. Default: kAuto.
  ProgressStyle progress = ProgressStyle::kAuto;
  // Give up (and stop everything) after this long; 0 = never. Default: 0.
  std::chrono::seconds timeout{0};
  // Every worker the launcher starts (at launch, as a replacement of a dead
  // one, or because `pstrain scale` asked for more) sleeps this long before
  // each step, on top of its real compute: it emulates workers whose compute
  // takes longer (a slower or remote machine). At most kMaxStepDelayMs.
  // Default: 0.
  uint32_t step_delay_ms = 0;
  // The first worker started sleeps this much longer than the others before
  // each step (a straggler). At most kMaxStepDelayMs. Default: 0.
  uint32_t straggler_delay_ms = 0;
  // Give each worker's training thread a CPU of its own and run everything
  // else on the remaining CPUs (see PlaceCpus in common/cpu_affinity.h); the
  // launch fails, saying so, if there are not more CPUs than workers. Workers
  // started later (replacements, scale-ups) take the training CPUs in turn,
  // sharing them once there are more workers than at launch. Default: false.
  bool pin_cpus = false;
  // Port of the scheduler's HTTP admin endpoint (dashboard, /status,
  // /metrics) on 127.0.0.1: 0 = any free port, -1 = disabled. Default: 0.
  int32_t admin_port = 0;
  // Restart a PS or the scheduler that dies (same shard id and state
  // directory, same scheduler port), and keep as many workers running as the
  // scheduler asks for (job.num_workers, changed by `pstrain scale`).
  // Default: true.
  bool supervise = true;
  // How long the job may wait for a replacement PS, or for any worker when
  // none is left, before it fails (pstrain-scheduler --recovery-timeout-ms);
  // 0 = the scheduler's default. Default: 0.
  std::chrono::seconds recovery_timeout{0};
  // Give up after this many restarts. Default: 20.
  uint32_t max_restarts = 20;
  // Run the job with a cluster key (CurveZMQ on every socket, a token on the
  // admin endpoint's POSTs): job.network.key_dir if set, else fresh keys made
  // in <run_dir>/keys. Default: false (job.network.key_dir still applies).
  bool secure = false;
  // A fault to inject while training (pstrain drill). Default: none.
  FaultPlan fault;
};

struct EpochSummary {
  uint32_t epoch = 0;  // 1-based
  // Training samples the epoch's gradients came from, counted by the
  // scheduler once per sample (a dead worker's finished batches included,
  // its unfinished ones re-leased): the training set size, when nothing was
  // skipped or counted twice.
  uint64_t samples = 0;
  double train_loss = 0;
  double test_accuracy = 0;
  // Sparse models (binary classifiers): test AUC and mean test log-loss.
  bool has_auc = false;
  double test_auc = 0;
  double test_log_loss = 0;
  double seconds = 0;      // from the epoch's first lease to its close
  double end_seconds = 0;  // training time when the epoch closed (epochs may overlap)
  // Workers' time in the epoch's leases, summed over workers, in seconds:
  // waiting for pulls (including BSP/SSP barriers), computing, sending pushes.
  double wait_seconds = 0;
  double compute_seconds = 0;
  double push_seconds = 0;
};

struct LaunchResult {
  std::string run_dir;
  std::string model_path;
  std::string admin_url;  // "" when the admin endpoint was disabled
  std::vector<EpochSummary> epochs;
  double final_test_accuracy = 0;
  double final_test_auc = 0;  // sparse models
  double wall_seconds = 0;        // training time: first shard lease to the job's end
  double samples_per_second = 0;  // training samples / wall_seconds
  // job.train.target_accuracy > 0 and an epoch reached it: the job stopped there,
  // after this much training time.
  bool target_reached = false;
  double seconds_to_target = 0;
  // Durability and recovery.
  bool resumed = false;          // the run directory held a job: it continued
  uint32_t restarts = 0;         // processes the launcher restarted
  uint32_t generation = 0;       // rollbacks the job went through
  uint64_t redone_clocks = 0;    // clocks trained again after rollbacks
  uint32_t checkpoints = 0;      // complete checkpoints
  FaultTimeline fault;
};

// The launcher's own settings, checked before anything starts:
// kInvalidArgument naming the flag (--step-delay-ms, --worker-delay-ms) for a
// delay above kMaxStepDelayMs. The job itself is checked by ValidateJobSpec.
[[nodiscard]] Status ValidateLaunchOptions(const LaunchOptions& options);

// Runs the job to its end and writes <run_dir>/result.json. Errors:
// kInvalidArgument (bad job or options; nothing was created), kNotFound
// (missing data or binaries), kAborted (a process failed or the job failed;
// the message names it and its log), kCancelled (interrupted),
// kDeadlineExceeded (options.timeout passed).
StatusOr<LaunchResult> Launch(const LaunchOptions& options, const std::atomic<bool>& interrupted,
                              std::ostream& out);

}  // namespace pst
