#include "cli/drill_command.h"

#include <filesystem>
#include <random>

#include <fmt/format.h>

namespace pst {

FaultPlan PlanDrill(const DrillOptions& options) {
  std::mt19937_64 rng(options.seed);
  FaultPlan p;
  p.kind = options.scenario;
  p.at_fraction = options.at ? *options.at : std::uniform_real_distribution<double>(0.25, 0.65)(rng);
  const uint32_t pool = options.scenario == FaultKind::kKillPs ? options.launch.job.num_servers
                                                               : options.launch.job.num_workers;
  p.target = options.target ? *options.target
                            : static_cast<uint32_t>(rng() % std::max<uint32_t>(1, pool));
  p.count = options.count;
  p.pause_seconds = options.pause_seconds;
  return p;
}

std::string FormatDrillReport(const DrillReport& r, double tolerance_pp) {
  auto secs = [](double from, double to) {
    return from >= 0 && to >= 0 ? fmt::format("{:.2f} s", to - from) : std::string("n/a");
  };
  std::string out;
  out += fmt::format("drill {}: {} at {:.0f}% of the job ({:.2f} s into training)\n",
                     FaultKindName(r.plan.kind), r.timeline.target.empty() ? "-" : r.timeline.target,
                     100 * r.plan.at_fraction, r.timeline.injected_at);
  out += fmt::format("  time to detect:   {}\n", secs(r.timeline.injected_at, r.timeline.detected_at));
  out += fmt::format("  time to recover:  {}\n", secs(r.timeline.injected_at, r.timeline.recovered_at));
  out += fmt::format("  clocks redone:    {} (rollbacks: {}, processes restarted: {}, complete checkpoints: {})\n",
                     r.redone_clocks, r.rollbacks, r.restarts, r.checkpoints);
  if (r.recovered) {
    out += fmt::format("  final {}:   {:.4f} vs {:.4f} without the fault ({:+.2f} points, tolerance {:.2f})\n",
                       r.metric, r.fault_accuracy, r.baseline_accuracy,
                       100 * (r.fault_accuracy - r.baseline_accuracy), tolerance_pp);
  } else {
    out += "  the job did not recover: " + r.failure + "\n";
  }
  out += r.passed ? "PASSED\n" : "FAILED\n";
  return out;
}

Status RunDrill(const DrillOptions& options, const std::atomic<bool>& interrupted,
                std::ostream& out, DrillReport* report) {
  DrillReport& r = *report;
  r = DrillReport{};
  r.plan = PlanDrill(options);
  // A sparse model's runs report test AUC; accuracy at 0.5 says little on
  // click data where most labels are 0.
  const bool auc = options.launch.job.sparse();
  if (auc) r.metric = "test AUC";
  auto final_metric = [&](const LaunchResult& l) {
    return auc ? l.final_test_auc : l.final_test_accuracy;
  };
  const std::string dir = options.launch.run_dir.empty() ? "runs/drill" : options.launch.run_dir;
  // Each drill starts from scratch: a run directory with state would resume.
  std::error_code ec;
  for (const char* sub : {"/baseline", "/fault"}) std::filesystem::remove_all(dir + sub, ec);
  if (options.baseline_accuracy) {
    r.baseline_accuracy = *options.baseline_accuracy;
  } else {
    out << "drill: baseline run without the fault\n";
    LaunchOptions base = options.launch;
    base.run_dir = dir + "/baseline";
    base.fault = FaultPlan{};
    auto b = Launch(base, interrupted, out);
    if (!b.ok()) return b.status().WithContext("the baseline run failed");
    r.baseline_accuracy = final_metric(*b);
  }
  out << fmt::format("drill: run with {} injected\n", FaultKindName(r.plan.kind));
  LaunchOptions faulty = options.launch;
  faulty.run_dir = dir + "/fault";
  faulty.fault = r.plan;
  auto f = Launch(faulty, interrupted, out);
  if (f.ok()) {
    r.recovered = f->fault.injected;
    if (!r.recovered) r.failure = "the job ended before the fault could be injected";
    r.timeline = f->fault;
    r.fault_accuracy = final_metric(*f);
    r.redone_clocks = f->redone_clocks;
    r.rollbacks = f->generation;
    r.restarts = f->restarts;
    r.checkpoints = f->checkpoints;
  } else {
    if (f.status().code() == StatusCode::kCancelled) return f.status();
    r.failure = f.status().message();
  }
  r.passed = r.recovered &&
             100 * (r.baseline_accuracy - r.fault_accuracy) <= options.tolerance_pp;
  out << FormatDrillReport(r, options.tolerance_pp);
  return Status::OK();
}

}  // namespace pst
