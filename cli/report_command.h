// `pstrain report RUN_DIR`: summarises a finished `pstrain launch` run from
// its run directory (result.json, job.toml, metrics.jsonl), and the plots the
// launcher leaves there (loss.svg, accuracy.svg, throughput.svg).
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace pst {

struct ReportOptions {
  // The run directory of a `pstrain launch`.
  std::string run_dir;
  // Print a JSON summary instead of text. Default: false.
  bool json = false;
};

// Prints the summary to `out`. Errors (each a one-line message): kNotFound
// (no such directory, or no result.json: the job did not finish),
// kDataLoss (result.json cannot be read). job.toml and metrics.jsonl are
// optional: without them the summary leaves their parts out.
Status RunReportCommand(const ReportOptions& options, std::ostream& out);

// Writes <run_dir>/loss.svg, accuracy.svg and throughput.svg from the lines
// of metrics.jsonl (see cli/run_history.h), and for a sparse model (epoch
// lines with a "test_auc") auc.svg: test AUC and log-loss per epoch; fewer
// lines give emptier plots.
// kUnavailable if a file cannot be written.
Status WriteRunPlots(const std::string& run_dir, const std::vector<nlohmann::json>& history);

}  // namespace pst
