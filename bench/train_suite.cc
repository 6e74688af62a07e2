#include "bench/train_suite.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "cli/launcher.h"
#include "cli/local_trainer.h"
#include "common/job_spec.h"
#include "common/key_range.h"
#include "common/model_layout.h"
#include "ps/shard.h"
#include "worker/idx_reader.h"
#include "worker/mlp.h"

namespace pst::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// The middle value (the mean of the two middle ones for an even count).
double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : (v[h - 1] + v[h]) / 2;
}

struct LocalRun {
  uint32_t workers = 0;
  uint64_t samples = 0;
  double train_seconds = 0;  // TrainLocal's: evaluations excluded
  double eval_seconds_per_epoch = 0;
  double accuracy = 0;
  double sps() const { return train_seconds > 0 ? samples / train_seconds : 0; }
};

struct ClusterRun {
  uint32_t servers = 0;
  uint32_t workers = 0;
  std::string consistency = "BSP";  // "BSP" or "SSP s=N"
  bool pinned = false;               // launched with --pin-cpus
  bool secure = false;               // launched with --secure (CurveZMQ)
  // "BSP", "SSP s=1, --pin-cpus", "BSP, CURVE": how the run differs from the default job.
  std::string how() const {
    return consistency + (pinned ? ", --pin-cpus" : "") + (secure ? ", CURVE" : "");
  }
  uint64_t samples = 0;
  double wall_seconds = 0;    // LaunchResult::wall_seconds
  double epoch_seconds = 0;   // sum of the epochs' scheduler-measured seconds
  double launch_seconds = 0;  // Launch() call: process start to every process exited
  double accuracy = 0;
  std::vector<WorkerTiming> timing;  // per worker, from its log (if the line was found)
  double sps_wall() const { return wall_seconds > 0 ? samples / wall_seconds : 0; }
  double sps_epochs() const { return epoch_seconds > 0 ? samples / epoch_seconds : 0; }
};

// CurveZMQ's cost: every secured run against the plain BSP run of its round
// with the same cluster (sum-of-epochs samples/s), as a table and summary lines.
void PrintCurveCost(const std::vector<const std::vector<ClusterRun>*>& rounds, nlohmann::json* j,
                    Report& report) {
  const std::vector<ClusterRun>& first = *rounds[0];
  Table table({"cluster", "plain samples/s", "CURVE samples/s", "CURVE / plain", "min", "max"});
  (*j)["curve_cost"] = nlohmann::json::array();
  for (size_t c = 0; c < first.size(); ++c) {
    if (!first[c].secure) continue;
    size_t p = first.size();
    for (size_t k = 0; k < first.size(); ++k)
      if (!first[k].secure && !first[k].pinned && first[k].consistency == first[c].consistency &&
          first[k].servers == first[c].servers && first[k].workers == first[c].workers)
        p = k;
    if (p == first.size()) continue;
    std::vector<double> ratios;
    for (const auto* rd : rounds)
      if ((*rd)[p].sps_epochs() > 0) ratios.push_back((*rd)[c].sps_epochs() / (*rd)[p].sps_epochs());
    if (ratios.empty()) continue;
    const auto [lo, hi] = std::minmax_element(ratios.begin(), ratios.end());
    const std::string name = fmt::format("{} PS + {} worker{}, {}", first[c].servers, first[c].workers,
                                         first[c].workers > 1 ? "s" : "", first[c].consistency);
    table.AddRow({name, Fixed(first[p].sps_epochs(), 0), Fixed(first[c].sps_epochs(), 0),
                  Fixed(Median(ratios), 2), Fixed(*lo, 2), Fixed(*hi, 2)});
    (*j)["curve_cost"].push_back({{"run", name}, {"ratio_epochs", ratios}});
    report.summary.push_back(fmt::format(
        "train {}: CurveZMQ / plain samples/s (sum of epochs), median over {} round(s) {:.2f} "
        "(range {:.2f}-{:.2f})",
        name, ratios.size(), Median(ratios), *lo, *hi));
  }
  std::cout << "\n  CurveZMQ's cost (pstrain launch --secure against the same job in plain TCP, "
               "the same round; sum of epochs; first round's samples/s):\n";
  table.Print();
}

// The pushpull suite's p50 round trips (pstrain, bare ZeroMQ) at the default
// model's size, if that suite ran; zeros otherwise.
struct ModelRoundTrip {
  double pstrain_ms = 0;
  double bare_ms = 0;
};
ModelRoundTrip FindModelRoundTrip(const Report& report) {
  ModelRoundTrip rt;
  if (!report.json.contains("pushpull")) return rt;
  for (const auto& row : report.json["pushpull"]) {
    if (row.value("size", "") != "model" || row["pstrain"].empty()) continue;
    rt.pstrain_ms = row["pstrain"][0].value("p50_ms", 0.0);
    rt.bare_ms = row["bare_zmq"].value("p50_ms", 0.0);
  }
  return rt;
}

// Per-step costs of one BSP step's two local parts, timed directly on this
// thread: the worker's batch copy + forward/backward (pst::Mlp, 1 BLAS
// thread), and the PS's update of the whole model from one worker's gradient
// (pst::Shard::Push of every block, which applies the job's optimizer).
struct StepCosts {
  double compute_ms = 0;
  double apply_ms = 0;
  size_t blocks = 0;  // the shard's blocks (job.train.block_keys)
};

StatusOr<StepCosts> MeasureStepCosts(const JobSpec& job, const Dataset& train, uint32_t steps) {
  SetBlasThreads(1);
  PST_ASSIGN_OR_RETURN(Mlp mlp, Mlp::Create(job.model));
  const uint64_t total = mlp.layout().total();
  const size_t batch = job.train.batch_size;
  if (train.num_samples < batch)
    return Status::InvalidArgument("training set smaller than a batch");
  std::vector<float> params(total), grad(total);
  InitParams(job.model, mlp.layout(), 0, total, params.data());
  std::vector<float> x(batch * train.num_features);
  std::vector<int32_t> y(batch);
  const size_t batches = train.num_samples / batch;
  StepCosts costs;
  auto t0 = Clock::now();
  for (uint32_t i = 0; i < steps; ++i) {
    const size_t first = (i % batches) * batch;
    std::copy(train.row(first), train.row(first + batch), x.begin());
    std::copy(train.labels.begin() + first, train.labels.begin() + first + batch, y.begin());
    (void)mlp.ForwardBackward(params.data(), x.data(), y.data(), batch, grad.data());
  }
  costs.compute_ms = 1e3 * Since(t0) / steps;

  PST_ASSIGN_OR_RETURN(auto shard, Shard::Create(MlpTables(job.model, mlp.layout(), job.optimizer),
                                                 job.train, KeyRange{0, total}, /*num_workers=*/1,
                                                 /*max_clocks_ahead=*/2));
  const std::vector<KeyRange> blocks = shard->blocks();
  costs.blocks = blocks.size();
  t0 = Clock::now();
  for (uint64_t clock = 0; clock < steps; ++clock)
    for (const KeyRange& b : blocks)
      PST_RETURN_IF_ERROR(
          shard->Push(0, clock, b, static_cast<uint32_t>(batch), grad.data() + b.begin, b.size()));
  costs.apply_ms = 1e3 * Since(t0) / steps;
  if (shard->version() != steps)
    return Status::Internal("shard did not apply every step of the micro-benchmark");
  return costs;
}

}  // namespace

Status RunTrainSuite(const TrainConfig& config, Report& report) {
  JobSpec job;  // the default job: Fashion-MNIST, 784-128-10, Adam, batch 64, BSP
  job.train.epochs = config.epochs;
  PST_RETURN_IF_ERROR(ValidateJobSpec(job));

  Progress("train: loading Fashion-MNIST (train + test) from " + job.data_dir);
  const auto load_t = Clock::now();
  PST_ASSIGN_OR_RETURN(Dataset train, LoadFashionMnist(job.data_dir, true, job.train.train_limit));
  PST_ASSIGN_OR_RETURN(Dataset test, LoadFashionMnist(job.data_dir, false, job.train.test_limit));
  const double load_seconds = Since(load_t);

  Progress(
      "train: timing one step's forward/backward (pst::Mlp) and optimizer apply "
      "(pst::Shard) on this thread, 500 steps each");
  PST_ASSIGN_OR_RETURN(StepCosts costs, MeasureStepCosts(job, train, 500));

  PST_ASSIGN_OR_RETURN(const std::string tmp_dir, MakeTempDir("train"));
  // One round: the in-process references, then every cluster setup. Rounds
  // are repeated whole (config.repeat), so each ratio compares runs made
  // minutes apart at most on a machine whose speed drifts.
  struct Round {
    std::vector<LocalRun> local;
    std::vector<ClusterRun> clusters;
  };
  auto run_round = [&](uint32_t round) -> StatusOr<Round> {
    const std::string round_label =
        config.repeat > 1 ? fmt::format(" (round {} of {})", round + 1, config.repeat) : "";
    std::vector<LocalRun> local;
    for (uint32_t workers : {1u, 2u}) {
      Progress(
          fmt::format("train{}: in-process TrainLocal, {} virtual worker(s) x batch {}, {} epochs, "
                      "1 BLAS thread",
                      round_label, workers, job.train.batch_size, job.train.epochs));
      LocalOptions lo;
      lo.num_workers = workers;
      lo.evaluate = true;  // timed apart: train_seconds excludes it
      lo.blas_threads = 1;
      const auto t0 = Clock::now();
      PST_ASSIGN_OR_RETURN(LocalResult r, TrainLocal(job, train, test, lo));
      const double wall = Since(t0);
      LocalRun run;
      run.workers = workers;
      run.samples = r.samples;
      run.train_seconds = r.train_seconds;
      run.eval_seconds_per_epoch = (wall - r.train_seconds) / job.train.epochs;
      run.accuracy = r.epochs.empty() ? 0 : r.epochs.back().test_accuracy;
      local.push_back(run);
    }

    std::vector<ClusterRun> clusters;
    // The default job's BSP with 1 and 2 of each, then 1 + 1 under SSP with
    // bound 1, where the worker prefetches the next step's parameters; 1 + 1
    // also with the worker's training thread on a CPU of its own.
    struct Setup {
      uint32_t n;
      uint32_t staleness;  // SSP bound, or BSP when 0
      bool pin;            // LaunchOptions::pin_cpus
      bool secure = false;  // LaunchOptions::secure
    };
    std::vector<Setup> setups;
    // CurveZMQ's cost: the unpinned BSP setups again, secured, each right
    // after its plain run (this VM's speed drifts within minutes).
    for (const Setup& s : {Setup{1, 0, false}, Setup{1, 0, true}, Setup{2, 0, false},
                           Setup{1, 1, false}, Setup{1, 1, true}}) {
      setups.push_back(s);
      if (config.secure && s.staleness == 0 && !s.pin) setups.push_back({s.n, 0, false, true});
    }
    for (const Setup& setup : setups) {
      const uint32_t n = setup.n;
      LaunchOptions lo;
      lo.job = job;
      lo.job.num_servers = n;
      lo.job.num_workers = n;
      if (setup.staleness > 0) {
        lo.job.train.consistency = Consistency::kSsp;
        lo.job.train.staleness = setup.staleness;
      }
      ClusterRun run;
      run.consistency =
          setup.staleness > 0 ? fmt::format("SSP s={}", setup.staleness) : std::string("BSP");
      run.pinned = setup.pin;
      run.secure = setup.secure;
      lo.pin_cpus = setup.pin;
      lo.secure = setup.secure;
      const std::string how = run.how();
      lo.run_dir = fmt::format("{}/round{}-{}ps-{}w-s{}{}{}", tmp_dir, round, n, n, setup.staleness,
                               setup.pin ? "-pinned" : "", setup.secure ? "-curve" : "");
      lo.bin_dir = config.bin_dir;
      lo.progress = ProgressStyle::kQuiet;
      lo.timeout = std::chrono::seconds(300);
      Progress(
          fmt::format("train{}: pstrain launch, {} PS + {} worker(s) as separate processes, {}, {} "
                      "epochs (run dir {})",
                      round_label, n, n, how, job.train.epochs, lo.run_dir));
      std::ostringstream out;
      std::atomic<bool> interrupted{false};
      const auto t0 = Clock::now();
      auto r = Launch(lo, interrupted, out);
      const double launch_seconds = Since(t0);
      if (!r.ok()) {
        std::cout << out.str();
        return r.status().WithContext(
            fmt::format("launch {} PS + {} workers (kept {})", n, n, lo.run_dir));
      }
      run.servers = n;
      run.workers = n;
      run.samples = static_cast<uint64_t>(r->samples_per_second * r->wall_seconds + 0.5);
      run.wall_seconds = r->wall_seconds;
      for (const EpochSummary& e : r->epochs) run.epoch_seconds += e.seconds;
      run.launch_seconds = launch_seconds;
      run.accuracy = r->final_test_accuracy;
      for (uint32_t w = 0; w < n; ++w) run.timing.push_back(ReadWorkerTiming(lo.run_dir, w));
      clusters.push_back(run);
    }
    return Round{std::move(local), std::move(clusters)};
  };
  std::vector<Round> rounds;
  for (uint32_t round = 0; round < std::max<uint32_t>(1, config.repeat); ++round) {
    PST_ASSIGN_OR_RETURN(Round r, run_round(round));
    rounds.push_back(std::move(r));
  }
  const std::vector<LocalRun>& local = rounds[0].local;
  const std::vector<ClusterRun>& clusters = rounds[0].clusters;
  std::error_code ec;
  fs::remove_all(tmp_dir, ec);

  const uint32_t e = job.train.epochs;
  Table table(
      {"run", "samples", "seconds", "samples/s", "vs in-proc", "test acc", "seconds cover"});
  nlohmann::json j;
  j["epochs"] = e;
  j["batch_size"] = job.train.batch_size;
  j["data_load_seconds"] = load_seconds;
  j["in_process"] = nlohmann::json::array();
  for (const LocalRun& r : local) {
    table.AddRow(
        {fmt::format("in-process, {} virtual worker{}", r.workers, r.workers > 1 ? "s" : ""),
         FormatCount(r.samples), Fixed(r.train_seconds, 2), Fixed(r.sps(), 0), "1.00",
         Fixed(r.accuracy, 4), "training only"});
    j["in_process"].push_back({{"workers", r.workers},
                               {"samples", r.samples},
                               {"train_seconds", r.train_seconds},
                               {"samples_per_second", r.sps()},
                               {"eval_seconds_per_epoch", r.eval_seconds_per_epoch},
                               {"test_accuracy", r.accuracy}});
  }
  j["distributed"] = nlohmann::json::array();
  // The in-process run with as many (virtual) workers: the same BSP schedule.
  auto ref_for = [&](const ClusterRun& r) -> const LocalRun& {
    return r.workers > 1 ? local[1] : local[0];
  };
  for (size_t i = 0; i < clusters.size(); ++i) {
    const ClusterRun& r = clusters[i];
    const LocalRun& ref = ref_for(r);
    const std::string name = fmt::format("{} PS + {} worker{}{}", r.servers, r.workers,
                                         r.workers > 1 ? "s" : "",
                                         r.how() == "BSP" ? "" : ", " + r.how());
    table.AddRow({name + ", job wall", FormatCount(r.samples), Fixed(r.wall_seconds, 2),
                  Fixed(r.sps_wall(), 0), Fixed(r.sps_wall() / ref.sps(), 2), Fixed(r.accuracy, 4),
                  fmt::format("[a] training + {} evals", e)});
    table.AddRow({name + ", sum of epochs", FormatCount(r.samples), Fixed(r.epoch_seconds, 2),
                  Fixed(r.sps_epochs(), 0), Fixed(r.sps_epochs() / ref.sps(), 2), "",
                  fmt::format("[b] training + {} eval{}", e - 1, e - 1 == 1 ? "" : "s")});
    j["distributed"].push_back({{"servers", r.servers},
                                {"workers", r.workers},
                                {"consistency", r.consistency},
                                {"pin_cpus", r.pinned},
                                {"curve", r.secure},
                                {"samples", r.samples},
                                {"wall_seconds", r.wall_seconds},
                                {"samples_per_second_wall", r.sps_wall()},
                                {"epoch_seconds_sum", r.epoch_seconds},
                                {"samples_per_second_epochs", r.sps_epochs()},
                                {"launch_seconds", r.launch_seconds},
                                {"test_accuracy", r.accuracy},
                                {"in_process_workers", ref.workers},
                                {"ratio_wall", r.sps_wall() / ref.sps()},
                                {"ratio_epochs", r.sps_epochs() / ref.sps()}});
  }

  std::cout << fmt::format(
      "\n== train: default job (784-128-10, Adam, batch {} per worker, BSP), {} epochs ==\n",
      job.train.batch_size, e);
  table.Print();
  std::string launches;
  for (const ClusterRun& r : clusters)
    launches += fmt::format("{}{} PS + {} w {:.1f} s", launches.empty() ? "" : ", ", r.servers,
                            r.workers, r.launch_seconds);
  std::cout << fmt::format(
      "  in-process: pst::TrainLocal on one thread, 1 BLAS thread, same BSP schedule as the\n"
      "    cluster row it is compared with (as many virtual workers as real ones); its\n"
      "    evaluation ({} test samples, {:.3f} s per epoch) is excluded.\n"
      "  [a] LaunchResult::samples_per_second: first shard lease to the job's end (the last\n"
      "    evaluation reported): training plus every epoch's evaluation (and the worker's\n"
      "    loading of the test set and saving of the model); not the training-set load (this\n"
      "    process took {:.2f} s to load both sets).\n"
      "  [b] sum of the epochs' scheduler times (first shard lease to epoch closed): training\n"
      "    plus the evaluations of all epochs but the last (evaluation runs at the start of\n"
      "    the next epoch).\n"
      "  Whole launches, process start to every process exited: {}.\n",
      test.num_samples, local[0].eval_seconds_per_epoch, load_seconds, launches);

  // Where a 1 PS + 1 worker step goes.
  const double batch = job.train.batch_size;
  const double step1 = 1e3 * batch / local[0].sps();
  const ClusterRun& c1 = clusters[0];
  const double dist_step = c1.samples > 0 ? 1e3 * c1.epoch_seconds * batch / c1.samples : 0;
  const double local_parts = costs.compute_ms + costs.apply_ms;
  const ModelRoundTrip rt = FindModelRoundTrip(report);
  auto line = [](const std::string& what, double ms) {
    return fmt::format("    {:<62} {:7.3f}\n", what, ms);
  };
  std::cout << fmt::format("\n  Where a step goes (ms per step of {} samples):\n",
                           job.train.batch_size)
            << line("batch copy + forward/backward (pst::Mlp, timed alone)", costs.compute_ms)
            << line(fmt::format("optimizer apply, Adam on {} blocks (pst::Shard, timed alone)",
                                costs.blocks),
                    costs.apply_ms)
            << line("in-process step (TrainLocal, 1 worker)", step1)
            << line("1 PS + 1 worker step ([b])", dist_step)
            << line("  of which beyond compute + apply", dist_step - local_parts);
  if (rt.bare_ms > 0)
    std::cout << fmt::format(
        "    pushpull suite at this model size:  {:.3f} pstrain round trip incl. apply, {:.3f} "
        "bare\n"
        "    ZeroMQ echo. Unless push/pull overlap compute, even a step that only adds the bare\n"
        "    echo per step would give a ratio of at most {:.3f} / ({:.3f} + {:.3f}) = {:.2f}.\n",
        rt.pstrain_ms, rt.bare_ms, step1, step1, rt.bare_ms, step1 / (step1 + rt.bare_ms));
  for (const ClusterRun& c : clusters) {
    for (size_t w = 0; w < c.timing.size(); ++w) {
      const WorkerTiming& t = c.timing[w];
      if (!t.found) {
        std::cout << fmt::format("    {} PS + {} w {}, worker {}: no timing line in its log\n",
                                 c.servers, c.workers, c.how(), w);
        continue;
      }
      const double n = std::max<double>(1, t.steps);
      std::cout << fmt::format(
          "    {} PS + {} w {}, worker {} (its log): {} steps; per step {:.3f} ms waiting for the "
          "pull, {:.3f} computing, {:.3f} sending pushes\n",
          c.servers, c.workers, c.how(), w, t.steps, t.wait_pull_ms / n, t.compute_ms / n, t.push_ms / n);
    }
  }
  std::cout << std::flush;
  for (const ClusterRun& c : clusters)
    for (size_t w = 0; w < c.timing.size(); ++w)
      if (c.timing[w].found)
        j["distributed"][&c - clusters.data()]["worker_timing"].push_back(
            {{"worker", w},
             {"steps", c.timing[w].steps},
             {"wait_pull_ms", c.timing[w].wait_pull_ms},
             {"compute_ms", c.timing[w].compute_ms},
             {"push_ms", c.timing[w].push_ms}});
  j["step_ms"] = {{"in_process_1_worker", step1},
                  {"compute", costs.compute_ms},
                  {"apply", costs.apply_ms},
                  {"one_ps_one_worker", dist_step}};

  if (config.secure) {
    std::vector<const std::vector<ClusterRun>*> per_round;
    for (const Round& rd : rounds) per_round.push_back(&rd.clusters);
    PrintCurveCost(per_round, &j, report);
  }
  if (rounds.size() == 1) {
    report.json["train"] = j;
    for (size_t i = 0; i < clusters.size(); ++i) {
      const ClusterRun& r = clusters[i];
      const LocalRun& ref = ref_for(r);
      report.summary.push_back(fmt::format(
          "train {}ps+{}w {}: {:.0f} samples/s (job wall) / {:.0f} (sum of epochs) vs in-process "
          "{:.0f} ({} worker{}): ratio {:.2f} / {:.2f}{}",
          r.servers, r.workers, r.how(), r.sps_wall(), r.sps_epochs(), ref.sps(), ref.workers,
          ref.workers > 1 ? "s" : "", r.sps_wall() / ref.sps(), r.sps_epochs() / ref.sps(),
          r.workers == 1 ? " (issue goals: >= 0.80, >= 0.90)" : ""));
    }
    return Status::OK();
  }

  // Each round's ratios against that round's in-process run.
  Table spread({"run", "vs in-proc, job wall: median", "min", "max",
                "sum of epochs: median", "min", "max"});
  j["rounds"] = nlohmann::json::array();
  for (size_t c = 0; c < clusters.size(); ++c) {
    std::vector<double> wall, epochs;
    for (const Round& rd : rounds) {
      const ClusterRun& r = rd.clusters[c];
      const LocalRun& ref = r.workers > 1 ? rd.local[1] : rd.local[0];
      wall.push_back(r.sps_wall() / ref.sps());
      epochs.push_back(r.sps_epochs() / ref.sps());
    }
    const ClusterRun& r = clusters[c];
    const std::string name = fmt::format("{} PS + {} worker{}, {}", r.servers, r.workers,
                                         r.workers > 1 ? "s" : "", r.how());
    const double wall_median = Median(wall), epochs_median = Median(epochs);
    auto [wall_min, wall_max] = std::minmax_element(wall.begin(), wall.end());
    auto [ep_min, ep_max] = std::minmax_element(epochs.begin(), epochs.end());
    spread.AddRow({name, Fixed(wall_median, 2), Fixed(*wall_min, 2), Fixed(*wall_max, 2),
                   Fixed(epochs_median, 2), Fixed(*ep_min, 2), Fixed(*ep_max, 2)});
    j["rounds"].push_back({{"run", name}, {"ratio_wall", wall}, {"ratio_epochs", epochs}});
    report.summary.push_back(fmt::format(
        "train {}ps+{}w {}: ratio vs in-process over {} rounds, median {:.2f} (job wall) / {:.2f} "
        "(sum of epochs), ranges {:.2f}-{:.2f} / {:.2f}-{:.2f}{}",
        r.servers, r.workers, r.how(), rounds.size(), wall_median, epochs_median, *wall_min,
        *wall_max, *ep_min, *ep_max, r.workers == 1 ? " (issue goals: >= 0.80, >= 0.90)" : ""));
  }
  report.json["train"] = j;
  std::cout << fmt::format("\n  Ratios over {} rounds (each against its round's in-process run):\n",
                           rounds.size());
  spread.Print();
  return Status::OK();
}

}  // namespace pst::bench
