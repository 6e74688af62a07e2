// Helpers shared by the pstrain-bench suites: latency statistics, progress
// lines, plain-text tables, and the report that collects every figure for the
// final summary and the optional JSON file. Single-threaded: only the bench's
// main thread uses them.
#pragma once

#include <chrono>
#include <functional>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace pst::bench {

// Summary of a series of durations, in milliseconds.
struct LatencyStats {
  size_t n = 0;
  double mean_ms = 0;
  double p50_ms = 0;
  double p99_ms = 0;  // nearest rank: with fewer than 100 samples this is the maximum
  double min_ms = 0;
  double max_ms = 0;
};

// REQUIRES: !seconds.empty().
LatencyStats Summarize(const std::vector<double>& seconds);

// Seconds since t0 on the steady clock.
double Since(std::chrono::steady_clock::time_point t0);

// Prints "[  12.3 s] <what>" to stdout and flushes, so a long step is announced
// before it starts. The time is since the bench started.
void Progress(const std::string& what);

// A plain-text table with right-aligned columns (the first column left-aligned).
class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void AddRow(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  // Prints the table to stdout, indented by two spaces.
  void Print() const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// Everything the suites measured: a JSON document (written by --json) and the
// one-line figures of the final summary block.
struct Report {
  nlohmann::json json = nlohmann::json::object();
  std::vector<std::string> summary;
};

// Runs `fn` on a thread of its own (a scheduler's or PS's Run()) and joins it
// with a bound. Not thread-safe.
class RoleThread {
 public:
  RoleThread() = default;
  RoleThread(const RoleThread&) = delete;
  RoleThread& operator=(const RoleThread&) = delete;
  // Detaches a thread that was never joined (see Join).
  ~RoleThread();

  // REQUIRES: not started yet.
  void Start(std::function<Status()> fn);
  bool started() const { return thread_.joinable(); }
  // True once fn has returned (Join will not block, or has joined).
  bool finished() const;
  // Waits up to `timeout` for fn to return and yields its Status.
  // kDeadlineExceeded if it is still running: the thread is then detached, and
  // the caller must keep alive whatever it uses (leak it).
  Status Join(std::chrono::milliseconds timeout);

 private:
  std::thread thread_;
  std::future<Status> result_;
  bool joined_ = false;
};

// Creates a fresh directory /tmp/pstrain-bench-<name>-XXXXXX for a suite's run
// directories and returns its path. kUnavailable if it cannot.
StatusOr<std::string> MakeTempDir(const std::string& name);

// The breakdown a worker logs when it finishes (worker/worker.cc).
struct WorkerTiming {
  bool found = false;
  uint64_t steps = 0;
  double wait_pull_ms = 0;
  double compute_ms = 0;
  double push_ms = 0;
};

// Reads "finished after N steps: A ms waiting for pulls, B ms computing, C ms
// sending pushes" from <run_dir>/logs/worker-<rank>.log (found = false if
// the line is missing).
WorkerTiming ReadWorkerTiming(const std::string& run_dir, uint32_t rank);

// This process's resident memory (/proc/self/statm), bytes.
uint64_t ResidentBytes();

// "1.23 GB/s"-style formatting helpers.
std::string FormatCount(uint64_t n);  // 9990999 -> "9,990,999"
std::string Fixed(double v, int decimals);

}  // namespace pst::bench
