// `pstrain drill SCENARIO`: a fault-recovery rehearsal. Runs the job once
// without a fault (the baseline) and once with the scenario's fault injected
// at a chosen or seeded-random moment, each on its own local cluster, and
// reports time to detect, time to recover, clocks redone and the final
// accuracy against the baseline (for a sparse model, the final test AUC: the
// number its runs report; "accuracy" below means whichever of the two).
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

#include "cli/launcher.h"
#include "common/status.h"

namespace pst {

struct DrillOptions {
  // The job and launcher settings (run_dir: the drill's directory; the two
  // runs go to <run_dir>/baseline and <run_dir>/fault).
  LaunchOptions launch;
  FaultKind scenario = FaultKind::kKillWorker;
  // Seeds the moment and the target when `at` / `target` are not given.
  uint64_t seed = 1;
  std::optional<double> at;         // fraction of the job's samples, (0, 1)
  std::optional<uint32_t> target;   // worker or PS index
  uint32_t count = 1;               // add-workers / remove-workers
  double pause_seconds = 3;         // pause-worker
  // Fail if the faulty run's accuracy is more than this many percentage
  // points below the baseline's. Default: 1.
  double tolerance_pp = 1.0;
  // Skip the baseline and compare against this accuracy instead.
  std::optional<double> baseline_accuracy;
};

struct DrillReport {
  FaultPlan plan;
  FaultTimeline timeline;
  std::string metric = "accuracy";  // or "test AUC" (sparse models)
  double baseline_accuracy = 0;
  double fault_accuracy = 0;
  bool recovered = false;  // the faulty run finished
  std::string failure;     // why it did not
  uint64_t redone_clocks = 0;
  uint32_t rollbacks = 0;
  uint32_t restarts = 0;
  uint32_t checkpoints = 0;
  bool passed = false;
};

// The plan the drill injects: options' choices, else drawn from the seed
// (moment uniform in [0.25, 0.65] of the samples).
FaultPlan PlanDrill(const DrillOptions& options);

// Runs both jobs and prints the report. OK with report->passed false when the
// job recovered but lost too much accuracy; errors when a run could not start
// (bad job, missing data) or the baseline failed.
Status RunDrill(const DrillOptions& options, const std::atomic<bool>& interrupted,
                std::ostream& out, DrillReport* report);

std::string FormatDrillReport(const DrillReport& r, double tolerance_pp);

}  // namespace pst
