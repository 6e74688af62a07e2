// pst::Supervisor: the processes of one `pstrain launch` run. It starts the
// scheduler, the PS and the workers (each logging to <run_dir>/logs/), watches
// them while the job runs, and with supervision restarts a dead or stopped PS
// or scheduler (same arguments: same shard id, state directory and port) and
// keeps as many workers running as the job asks for. At the end it waits for
// every process to exit, or stops them. Used from the launcher's one thread;
// not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cli/child_process.h"
#include "cli/launcher.h"
#include "cli/progress.h"
#include "common/cpu_affinity.h"
#include "common/status.h"
#include "proto/scheduler.capnp.h"

namespace pst {

struct SupervisedProcess {
  std::string name;  // "scheduler", "ps 0", "worker 1"
  ChildProcess child;
  std::string bin;  // how to start it again
  std::vector<std::string> args;
  bool ended = false;  // exited and handled (a worker that left, a replaced PS)
  bool IsWorker() const { return name.rfind("worker", 0) == 0; }
  bool IsPs() const { return name.rfind("ps ", 0) == 0; }
};

class Supervisor {
 public:
  // Processes are started from bin_dir, with their logs in log_dir.
  Supervisor(const LaunchOptions& options, std::string bin_dir, std::string log_dir,
             std::optional<CpuPlacement> cpus, ProgressPrinter& progress)
      : options_(options), bin_dir_(std::move(bin_dir)), log_dir_(std::move(log_dir)),
        cpus_(std::move(cpus)), progress_(progress) {}
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Starts `bin` with `args` as process `name`. Errors from ChildProcess::Start.
  Status Spawn(const std::string& name, const std::string& bin, std::vector<std::string> args);
  // Starts one more worker of the job whose scheduler is at `endpoint`
  // (with the step delays and CPU placement of the options).
  Status StartWorker(const std::string& endpoint, const std::string& model_path);
  // Workers started from now on get `--key-dir dir` (a secured job).
  void set_key_dir(std::string dir) { key_dir_ = std::move(dir); }

  // One look at every process while the job is in `state`. A worker that
  // died costs its lease, not the job; a PS or the scheduler that died is
  // restarted (with supervision). Returns kAborted naming the process and
  // its log when one died and cannot be replaced. `exited` gets the names of
  // the processes that died.
  Status Poll(proto::JobState state, std::vector<std::string>* exited);
  // With supervision, while running: starts workers until `desired` run
  // (replacing dead ones, adding the ones `pstrain scale` asked for).
  Status KeepWorkers(proto::JobState state, uint32_t desired);
  // After a job status: a PS or scheduler that exited 0 while the job still
  // runs was stopped (SIGTERM): start it again, as if it had died.
  Status RestartStopped(proto::JobState state);

  // The live process of a worker (index, modulo `desired`) or of PS `index`; null if none.
  SupervisedProcess* Live(bool worker, uint32_t index, uint32_t desired);
  // Sends `signo` to the scheduler, if it runs.
  void SignalScheduler(int signo);
  // Stops every process still running: SIGTERM first, SIGKILL after `grace`.
  void StopAll(std::chrono::milliseconds grace);
  // After the job ended: waits up to `grace` for every process to exit by
  // itself, stops the ones that do not and warns about failed exits.
  void AwaitExit(std::chrono::milliseconds grace);

  SupervisedProcess& scheduler() { return procs_.front(); }  // REQUIRES: spawned first
  uint32_t restarts() const { return restarts_; }

 private:
  // Starts process procs_[i] again, as a new entry (same arguments and log).
  Status Restart(size_t i);

  const LaunchOptions& options_;
  const std::string bin_dir_;
  const std::string log_dir_;
  const std::optional<CpuPlacement> cpus_;
  ProgressPrinter& progress_;
  std::vector<SupervisedProcess> procs_;
  uint32_t workers_started_ = 0;
  uint32_t restarts_ = 0;
  uint32_t last_desired_ = 0;      // the worker count the job asked for last
  uint32_t worker_deficit_ = 0;    // workers that died or were asked for, not yet started
  uint32_t dead_workers_ = 0;      // of those, the ones that died
  std::vector<size_t> exited_cleanly_;  // PS/scheduler that exited 0, pending the next status
  std::string key_dir_;                 // --key-dir for workers; empty for a plain job
  std::string endpoint_, model_path_;   // for workers started later
};

}  // namespace pst
