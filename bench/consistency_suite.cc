#include "bench/consistency_suite.h"

#include <atomic>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "cli/launcher.h"

namespace pst::bench {

Status RunConsistencySuite(const ConsistencyConfig& config, Report& report) {
  struct Variant {
    std::string name;
    Consistency consistency;
    uint32_t staleness;
  };
  const std::vector<Variant> variants = {{"BSP", Consistency::kBsp, 0},
                                         {"SSP s=2", Consistency::kSsp, 2},
                                         {"SSP s=4", Consistency::kSsp, 4},
                                         {"ASP", Consistency::kAsp, 0}};
  PST_ASSIGN_OR_RETURN(const std::string tmp_dir, MakeTempDir("consistency"));

  Table table({"consistency", "straggler", "samples/s", "final acc",
               fmt::format("time to {:.2f}", config.target_accuracy)});
  nlohmann::json rows = nlohmann::json::array();
  for (const Variant& v : variants) {
    for (uint32_t delay : {0u, config.straggler_delay_ms}) {
      LaunchOptions lo;
      lo.job.num_servers = 2;
      lo.job.num_workers = 3;
      lo.job.train.epochs = config.epochs;
      lo.job.train.consistency = v.consistency;
      lo.job.train.staleness = v.staleness;
      lo.straggler_delay_ms = delay;
      lo.run_dir = fmt::format("{}/{}-{}", tmp_dir, rows.size(), delay);
      lo.bin_dir = config.bin_dir;
      lo.progress = ProgressStyle::kQuiet;
      lo.timeout = std::chrono::seconds(600);
      Progress(fmt::format("consistency: {} with {}, 2 PS + 3 workers, {} epochs", v.name,
                           delay ? fmt::format("a straggler ({} ms per step)", delay)
                                 : std::string("no straggler"),
                           config.epochs));
      std::ostringstream out;
      std::atomic<bool> interrupted{false};
      auto r = Launch(lo, interrupted, out);
      if (!r.ok()) {
        std::cout << out.str();
        return r.status().WithContext(fmt::format("{} (kept {})", v.name, lo.run_dir));
      }
      // Time to accuracy: the training time when the first epoch whose
      // evaluation reached the target closed (epoch granularity; under ASP/SSP
      // epochs overlap, so their durations do not add up).
      double time_to_target = -1;
      for (const EpochSummary& e : r->epochs)
        if (time_to_target < 0 && e.test_accuracy >= config.target_accuracy) time_to_target = e.end_seconds;
      table.AddRow({v.name, delay ? fmt::format("{} ms/step", delay) : "-",
                    Fixed(r->samples_per_second, 0), Fixed(r->final_test_accuracy, 4),
                    time_to_target < 0 ? "not reached" : Fixed(time_to_target, 2) + " s"});
      rows.push_back({{"consistency", v.name},
                      {"straggler_delay_ms", delay},
                      {"samples_per_second", r->samples_per_second},
                      {"final_test_accuracy", r->final_test_accuracy},
                      {"time_to_target_seconds", time_to_target}});
      report.summary.push_back(fmt::format(
          "consistency {}{}: {:.0f} samples/s, accuracy {:.4f}, time to {:.2f}: {}", v.name,
          delay ? fmt::format(" + straggler {} ms", delay) : std::string(), r->samples_per_second,
          r->final_test_accuracy, config.target_accuracy,
          time_to_target < 0 ? std::string("not reached") : fmt::format("{:.2f} s", time_to_target)));
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(tmp_dir, ec);
  std::cout << fmt::format(
      "\n== consistency: default model, 2 PS + 3 workers, {} epochs ==\n", config.epochs);
  table.Print();
  std::cout << "  samples/s: training samples / training time (first shard lease to the job's "
               "end).\n  time to target: training time when the first epoch whose test accuracy "
               "reached it closed.\n";
  report.json["consistency"] = {{"epochs", config.epochs},
                                {"target_accuracy", config.target_accuracy},
                                {"rows", rows}};
  return Status::OK();
}

}  // namespace pst::bench
