// What the pstrain-bench suites do with a local cluster of real processes: run
// a job quietly (LaunchQuiet), sample the processes' peak resident memory
// while it runs (RssSampler), read the scheduler's checkpoint rounds after it
// (ReadCheckpointRounds).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "cli/launcher.h"
#include "common/job_spec.h"
#include "common/mutex.h"
#include "common/status.h"

namespace pst::bench {

// Embedding + MLP (dim 16, hidden 64-32, Adagrad 0.05, batch 256, one epoch,
// BSP) on <data>/train.tsv and test.tsv, synthetic Criteo-like files
// (datagen/synthetic_ctr.h); the cluster size is the JobSpec default.
JobSpec SyntheticEmbeddingMlpJob(const std::string& data);

// pst::Launch of `job` in run_dir with the processes of bin_dir, no progress
// output, no admin endpoint, stopped after `timeout`. On error prints the
// launcher's output and returns its error naming the cluster and the kept
// run directory.
StatusOr<LaunchResult> LaunchQuiet(const JobSpec& job, const std::string& run_dir,
                                   const std::string& bin_dir, std::chrono::seconds timeout);

// Peak resident memory of a cluster's processes, by role, sampled from
// /proc/PID/status (VmHWM: the kernel's own high-water mark, so peaks
// between samples count) every 100 ms while a job runs. A process belongs to
// the run when its command line mentions the run directory. Thread-safe.
class RssSampler {
 public:
  // Starts sampling on a thread of its own.
  explicit RssSampler(std::string run_dir);
  ~RssSampler() { Stop(); }
  RssSampler(const RssSampler&) = delete;
  RssSampler& operator=(const RssSampler&) = delete;
  // Stops sampling (idempotent); call from the thread that created it.
  void Stop();
  // Largest VmHWM seen per role ("pstrain-worker", "pstrain-ps"), bytes.
  std::map<std::string, uint64_t> peaks() EXCLUDES(mu_);

 private:
  void Loop();
  void Sample();

  const std::string run_dir_;
  std::atomic<bool> stop_{false};
  Mutex mu_;
  std::map<std::string, uint64_t> peaks_ GUARDED_BY(mu_);
  std::thread thread_;
};

// The scheduler's "checkpoint N complete at clock K (X ms)" lines of
// <run_dir>/logs/scheduler.log: each round's time from its start to every PS
// having written it (which includes the clocks the cluster still had to
// train to reach K).
std::vector<double> ReadCheckpointRounds(const std::string& run_dir);

// One PS's cost of one checkpoint, from its "checkpoint N at clock K durable
// X ms after its clock: capture pause P ms, write W ms, copied on write C MB
// (B blocks, T ms)" line (ps/server.cc).
struct PsCheckpointCost {
  uint64_t id = 0;
  uint64_t clock = 0;
  double durable_ms = 0;    // the round's clock reached (all captured) to durably written
  double pause_ms = 0;      // the serving thread's capture work
  double write_ms = 0;      // the writer thread's store call
  double copied_mb = 0;     // blocks copied before the writer read them
  uint64_t copied_blocks = 0;
  double copy_ms = 0;       // the serving thread's copying
};
// Every such line of <run_dir>/logs/ps-*.log, by checkpoint id (one entry
// per PS that wrote it).
std::map<uint64_t, std::vector<PsCheckpointCost>> ReadPsCheckpointCosts(const std::string& run_dir);

}  // namespace pst::bench
