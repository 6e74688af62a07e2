// pst::RunRecorder: what a `pstrain launch` run leaves behind besides logs
// and state: the metrics history (<run_dir>/metrics.jsonl: a progress line a
// second and a line per evaluated epoch), its plots (loss.svg,
// accuracy.svg, throughput.svg) and the summary (result.json). A history it
// cannot write costs the plots, not the job (it warns once). Used from the
// launcher's one thread; not thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/launcher.h"
#include "cli/progress.h"
#include "cli/run_history.h"
#include "proto/scheduler.capnp.h"

namespace pst {

class RunRecorder {
 public:
  RunRecorder(std::string run_dir, ProgressPrinter& progress);
  RunRecorder(const RunRecorder&) = delete;
  RunRecorder& operator=(const RunRecorder&) = delete;

  // After a job status: at most one progress line a second (and one for the
  // final state); its loss and samples/s cover the samples since the last.
  void Progress(proto::JobStatusResponse::Reader st, uint32_t epochs, std::chrono::steady_clock::time_point launched);
  // An epoch whose evaluation is in.
  void Epoch(const EpochSummary& e);
  // Draws the plots from the history (warns if it cannot).
  void WritePlots();

 private:
  void Append(const nlohmann::json& line);

  const std::string run_dir_;
  ProgressPrinter& progress_;
  std::unique_ptr<RunHistory> history_;  // null once it cannot be written
  // The workers' totals at the last progress line.
  std::chrono::steady_clock::time_point last_line_ = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  double line_elapsed_ = 0;
  uint64_t line_samples_ = 0;
  double line_loss_sum_ = 0;
};

// Writes <run_dir>/result.json: the run's summary.
Status WriteResultJson(const std::string& path, const LaunchOptions& options, const LaunchResult& r);

}  // namespace pst
