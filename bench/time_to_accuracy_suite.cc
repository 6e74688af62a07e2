#include "bench/time_to_accuracy_suite.h"

#include <atomic>
#include <filesystem>
#include <iostream>
#include <sstream>

#include <fmt/format.h>

#include "bench/plain_trainer.h"
#include "cli/launcher.h"
#include "worker/idx_reader.h"

namespace pst::bench {

Status RunTimeToAccuracySuite(const TimeToAccuracyConfig& config, Report& report) {
  JobSpec job;  // the default job
  Progress("tta: loading Fashion-MNIST for the plain trainer");
  PST_ASSIGN_OR_RETURN(Dataset train, LoadFashionMnist(job.data_dir, true));
  PST_ASSIGN_OR_RETURN(Dataset test, LoadFashionMnist(job.data_dir, false));

  Progress(fmt::format("tta: plain single-process trainer to {:.2f} (at most {} epochs)",
                       config.target_accuracy, config.max_epochs));
  PlainTrainerOptions po;
  po.target_accuracy = config.target_accuracy;
  po.max_epochs = config.max_epochs;
  PST_ASSIGN_OR_RETURN(PlainTrainerResult plain, TrainPlain(train, test, po));

  PST_ASSIGN_OR_RETURN(const std::string tmp_dir, MakeTempDir("tta"));
  struct Row {
    std::string name;
    bool reached;
    uint32_t epochs;
    double seconds;
    double accuracy;
  };
  std::vector<Row> rows{{"plain single-process trainer (batch 64)", plain.reached, plain.epochs,
                         plain.seconds, plain.final_accuracy}};
  struct Cluster {
    uint32_t n;  // PS and workers
    Consistency consistency;
    uint32_t staleness;
    bool pin;  // LaunchOptions::pin_cpus
  };
  // The default job (BSP), smaller, and with SSP bound 1, which lets the worker
  // prefetch the next step's parameters while it computes; that also with the
  // worker's training thread on a CPU of its own.
  for (const Cluster& c :
       {Cluster{2, Consistency::kBsp, 0, false}, Cluster{1, Consistency::kBsp, 0, false},
        Cluster{1, Consistency::kSsp, 1, false}, Cluster{1, Consistency::kSsp, 1, true}}) {
    const uint32_t n = c.n;
    const std::string how =
        (c.consistency == Consistency::kBsp ? "BSP" : fmt::format("SSP s={}", c.staleness)) +
        (c.pin ? ", --pin-cpus" : "");
    LaunchOptions lo;
    lo.job.num_servers = n;
    lo.job.num_workers = n;
    lo.job.train.consistency = c.consistency;
    lo.job.train.staleness = c.staleness;
    lo.pin_cpus = c.pin;
    lo.job.train.epochs = config.max_epochs;
    lo.job.train.target_accuracy = static_cast<float>(config.target_accuracy);
    lo.run_dir = fmt::format("{}/{}ps-{}w-{}{}{}", tmp_dir, n, n, ConsistencyName(c.consistency),
                             c.staleness, c.pin ? "-pinned" : "");
    lo.bin_dir = config.bin_dir;
    lo.progress = ProgressStyle::kQuiet;
    lo.timeout = std::chrono::seconds(600);
    Progress(fmt::format("tta: pstrain launch, {} PS + {} worker(s), {}, --target-accuracy {:.2f}",
                         n, n, how, config.target_accuracy));
    std::ostringstream out;
    std::atomic<bool> interrupted{false};
    auto r = Launch(lo, interrupted, out);
    if (!r.ok()) {
      std::cout << out.str();
      return r.status().WithContext(fmt::format("launch {} PS + {} workers (kept {})", n, n, lo.run_dir));
    }
    rows.push_back({fmt::format("pstrain {} PS + {} worker{}, {} (batch 64 each)", n, n,
                                n > 1 ? "s" : "", how),
                    r->target_reached, static_cast<uint32_t>(r->epochs.size()), r->wall_seconds,
                    r->final_test_accuracy});
  }
  std::error_code ec;
  std::filesystem::remove_all(tmp_dir, ec);

  std::cout << fmt::format("\n== tta: time to {:.2f} test accuracy, default model and hyper-parameters ==\n",
                           config.target_accuracy);
  Table table({"trainer", "reached", "epochs", "seconds", "accuracy", "vs plain"});
  nlohmann::json j = nlohmann::json::array();
  for (const Row& r : rows) {
    table.AddRow({r.name, r.reached ? "yes" : "no", std::to_string(r.epochs), Fixed(r.seconds, 2),
                  Fixed(r.accuracy, 4), Fixed(rows[0].seconds / std::max(1e-9, r.seconds), 2)});
    j.push_back({{"trainer", r.name},
                 {"reached", r.reached},
                 {"epochs", r.epochs},
                 {"seconds", r.seconds},
                 {"final_test_accuracy", r.accuracy}});
    report.summary.push_back(fmt::format("tta {}: {} in {:.2f} s ({} epochs, accuracy {:.4f})", r.name,
                                         r.reached ? "reached" : "NOT reached", r.seconds, r.epochs,
                                         r.accuracy));
  }
  table.Print();
  std::cout << "  seconds: training plus per-epoch evaluation (pstrain: first shard lease to the\n"
               "  stopping evaluation; data loading and process start excluded for every row).\n"
               "  'vs plain' > 1 means faster than the plain trainer.\n";
  report.json["tta"] = {{"target_accuracy", config.target_accuracy}, {"rows", j}};
  return Status::OK();
}

}  // namespace pst::bench
