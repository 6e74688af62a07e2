#include "bench/large_suite.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "bench/plain_trainer.h"
#include "bench/cluster_run.h"
#include "cli/launcher.h"
#include "common/key_range.h"
#include "common/model_layout.h"
#include "common/mutex.h"
#include "ps/checkpoint_writer.h"
#include "ps/rocksdb_param_store.h"
#include "ps/shard.h"
#include "worker/idx_reader.h"

namespace pst::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr double kGB = 1e9;

struct CheckpointTimes {
  uint64_t bytes = 0;          // parameters and optimizer state written
  double capture_s = 0;        // BeginCapture to TakeLiveCapture (marking the blocks)
  double write_s = 0;          // the writer thread's durable write (RocksDB, synced)
  double train_s = 0;          // the next clock's updates, applied while the writer runs
  LiveCapture::Stats cow;      // what those updates copied before the writer read it
  double restore_s = 0;        // open the store, read the checkpoint, Shard::Restore
  double restore_read_s = 0;   // of which opening the store and ReadCheckpoint
};

// What a PS does for one coordinated checkpoint round and for a restore, on
// the largest shard of `job` (parameters and Adam state after one update),
// with its own code: Shard's live capture, CheckpointWriter over a synced
// RocksDbParamStore in `dir` while the next clock's updates are applied (in
// key order, as a worker pushes them), then ReadCheckpoint and Shard::Restore.
StatusOr<CheckpointTimes> TimeCheckpoint(const JobSpec& job, const std::string& dir) {
  PST_ASSIGN_OR_RETURN(ModelLayout layout, ModelLayout::FromSpec(job.model));
  const KeyRange range = PartitionKeys(layout.total(), job.num_servers)[0];
  const std::vector<TableSpec> tables = MlpTables(job.model, layout, job.optimizer);
  CheckpointTimes t;
  std::vector<std::string> slot_names;
  {
    PST_ASSIGN_OR_RETURN(auto shard, Shard::Create(tables, job.train, range, /*num_workers=*/1,
                                                   /*max_clocks_ahead=*/2));
    const std::vector<float> grad(range.size(), 1e-3f);
    auto push_clock = [&](uint64_t clock) -> Status {
      for (const KeyRange& b : shard->blocks())
        PST_RETURN_IF_ERROR(shard->Push(0, clock, b, 64, grad.data() + (b.begin - range.begin),
                                        b.size()));
      return Status::OK();
    };
    PST_RETURN_IF_ERROR(push_clock(0));
    PST_ASSIGN_OR_RETURN(auto store, RocksDbParamStore::Open({dir}));
    PST_ASSIGN_OR_RETURN(auto writer, CheckpointWriter::Start(std::move(store)));
    const auto t0 = Clock::now();
    PST_RETURN_IF_ERROR(shard->BeginCapture(1, 1));
    auto cap = shard->TakeLiveCapture();
    if (!cap) return Status::Internal("capture at the shard's own clock was not ready at once");
    t.capture_s = Since(t0);
    slot_names = cap->slot_names;
    t.bytes = 4 * range.size() * (1 + slot_names.size());
    CheckpointManifest m;
    m.checkpoint_id = 1;
    m.clock = 1;
    m.job_fingerprint = "bench";
    m.range = range;
    m.slot_names = cap->slot_names;
    m.num_blocks = cap->blocks->size();
    writer->Write(std::move(m), cap->blocks);
    const auto t1 = Clock::now();
    PST_RETURN_IF_ERROR(push_clock(1));
    t.train_s = Since(t1);
    PST_RETURN_IF_ERROR(writer->Drain(std::chrono::minutes(10)));
    t.cow = cap->blocks->stats();
    for (const auto& r : writer->Poll()) {
      PST_RETURN_IF_ERROR(r.status.WithContext("checkpoint write"));
      t.write_s = r.duration_ms / 1e3;
    }
    writer->Commit(1);
    PST_RETURN_IF_ERROR(writer->Drain(std::chrono::minutes(1)));
    for (const auto& r : writer->Poll()) PST_RETURN_IF_ERROR(r.status.WithContext("checkpoint commit"));
  }
  // A restarted PS: a fresh shard, restored from the store.
  PST_ASSIGN_OR_RETURN(auto shard, Shard::Create(tables, job.train, range, 1, 2));
  const auto t2 = Clock::now();
  PST_ASSIGN_OR_RETURN(auto store, RocksDbParamStore::Open({dir}));
  PST_ASSIGN_OR_RETURN(auto read, store->ReadCheckpoint(1));
  t.restore_read_s = Since(t2);
  PST_RETURN_IF_ERROR(shard->Restore(1, read.second, slot_names, {0}));
  t.restore_s = Since(t2);
  return t;
}

struct ClusterRun {
  uint32_t servers = 0;
  // The plain trainer's compute per step timed right before and right after
  // the cluster ran (this VM's speed drifts with other load within minutes).
  double plain_before_ms = 0, plain_after_ms = 0;
  double samples_per_second = 0;
  WorkerTiming timing;
  uint64_t worker_peak = 0, ps_peak = 0;  // bytes (VmHWM)
  std::vector<double> checkpoint_rounds_ms;
  std::map<uint64_t, std::vector<PsCheckpointCost>> ps_costs;  // by checkpoint id
  uint32_t checkpoints = 0;
};

}  // namespace

Status RunLargeSuite(const LargeConfig& config, Report& report) {
  JobSpec job;
  job.model.layer_sizes = {784, config.hidden, 10};
  job.num_workers = 1;
  job.train.epochs = 1;
  job.train.train_limit = uint64_t{config.steps} * job.train.batch_size;
  job.train.test_limit = 256;
  job.checkpoint.every_steps = std::max<uint32_t>(4, config.steps / 3);
  PST_RETURN_IF_ERROR(ValidateJobSpec(job));
  PST_ASSIGN_OR_RETURN(ModelLayout layout, ModelLayout::FromSpec(job.model));
  const uint64_t params = layout.total();
  const double model_bytes = 4.0 * params;
  Progress(fmt::format("large: model 784-{}-10, {} parameters ({:.2f} GB as float32), Adam, BSP, "
                       "batch {}",
                       config.hidden, FormatCount(params), model_bytes / kGB,
                       job.train.batch_size));

  PST_ASSIGN_OR_RETURN(Dataset train,
                       LoadFashionMnist(job.data_dir, true, job.train.train_limit));
  PlainTrainerOptions po;
  po.hidden = config.hidden;
  auto time_plain = [&](const char* when) -> StatusOr<PlainStepTimes> {
    Progress(fmt::format("large: plain single-process trainer, {} timed steps ({})",
                         config.plain_steps, when));
    return TimePlainSteps(train, po, config.plain_steps);
  };
  PlainStepTimes plain;  // the first timing, for the Adam figure

  PST_ASSIGN_OR_RETURN(const std::string tmp_dir, MakeTempDir("large"));
  std::vector<ClusterRun> runs;
  std::vector<CheckpointTimes> ckpts;
  for (uint32_t servers : {1u, 2u}) {
    job.num_servers = servers;
    LaunchOptions lo;
    lo.job = job;
    lo.run_dir = fmt::format("{}/{}ps-1w", tmp_dir, servers);
    lo.bin_dir = config.bin_dir;
    lo.progress = ProgressStyle::kQuiet;
    lo.timeout = std::chrono::seconds(900);
    lo.admin_port = -1;
    ClusterRun run;
    PST_ASSIGN_OR_RETURN(const PlainStepTimes before, time_plain("before the cluster"));
    if (runs.empty()) plain = before;
    run.plain_before_ms = before.compute_ms;
    Progress(fmt::format("large: pstrain launch, {} PS + 1 worker, {} steps, checkpoint every {}",
                         servers, config.steps, job.checkpoint.every_steps));
    std::ostringstream out;
    std::atomic<bool> interrupted{false};
    RssSampler sampler(lo.run_dir);
    auto r = Launch(lo, interrupted, out);
    sampler.Stop();
    if (!r.ok()) {
      std::cout << out.str();
      return r.status().WithContext(fmt::format("launch {} PS + 1 worker (kept {})", servers,
                                                lo.run_dir));
    }
    PST_ASSIGN_OR_RETURN(const PlainStepTimes after, time_plain("after the cluster"));
    run.plain_after_ms = after.compute_ms;
    run.servers = servers;
    run.samples_per_second = r->samples_per_second;
    run.timing = ReadWorkerTiming(lo.run_dir, 0);
    const auto peaks = sampler.peaks();
    run.worker_peak = peaks.count("pstrain-worker") ? peaks.at("pstrain-worker") : 0;
    run.ps_peak = peaks.count("pstrain-ps") ? peaks.at("pstrain-ps") : 0;
    run.checkpoint_rounds_ms = ReadCheckpointRounds(lo.run_dir);
    run.ps_costs = ReadPsCheckpointCosts(lo.run_dir);
    run.checkpoints = r->checkpoints;
    runs.push_back(run);
    std::error_code ec;
    fs::remove_all(lo.run_dir, ec);

    Progress(fmt::format("large: one PS's checkpoint write and restore ({} PS: its largest shard)",
                         servers));
    PST_ASSIGN_OR_RETURN(CheckpointTimes ct,
                         TimeCheckpoint(job, fmt::format("{}/ckpt-{}ps", tmp_dir, servers)));
    ckpts.push_back(ct);
    fs::remove_all(fmt::format("{}/ckpt-{}ps", tmp_dir, servers), ec);
  }
  std::error_code ec;
  fs::remove_all(tmp_dir, ec);

  std::cout << fmt::format(
      "\n== large: 784-{}-10 ({} parameters, {:.2f} GB), Adam, BSP, batch 64, {} steps ==\n",
      config.hidden, FormatCount(params), model_bytes / kGB, config.steps);
  std::cout << fmt::format("  plain single-process trainer: {:.0f} ms Adam per step (first timing)\n",
                           plain.update_ms);
  Table table({"cluster", "samples/s", "worker compute ms/step", "plain ms/step (before, after)",
               "vs plain", "worker peak RSS", "vs model", "beyond params + grads", "PS peak RSS",
               "vs its state", "ckpt rounds (ms)"});
  nlohmann::json jruns = nlohmann::json::array();
  for (size_t i = 0; i < runs.size(); ++i) {
    const ClusterRun& c = runs[i];
    const double compute = c.timing.steps ? c.timing.compute_ms / c.timing.steps : 0;
    const double plain_ms = (c.plain_before_ms + c.plain_after_ms) / 2;
    const double ratio = plain_ms > 0 ? compute / plain_ms : 0;
    // The worker's parameter and gradient buffers are one model each; the
    // rest is transfer buffers, scratch, data and the program itself.
    const double beyond = double(c.worker_peak) - 2 * model_bytes;
    const double ps_state = double(ckpts[i].bytes);  // the largest shard's params + Adam state
    std::string rounds;
    for (double ms : c.checkpoint_rounds_ms) rounds += (rounds.empty() ? "" : " ") + Fixed(ms, 0);
    const std::string name = fmt::format("{} PS + 1 worker", c.servers);
    table.AddRow({name, Fixed(c.samples_per_second, 1), Fixed(compute, 0),
                  fmt::format("{:.0f} ({:.0f}, {:.0f})", plain_ms, c.plain_before_ms,
                              c.plain_after_ms),
                  Fixed(ratio, 2), fmt::format("{:.2f} GB", c.worker_peak / kGB),
                  Fixed(c.worker_peak / model_bytes, 2), fmt::format("{:.2f} GB", beyond / kGB),
                  fmt::format("{:.2f} GB", c.ps_peak / kGB), Fixed(c.ps_peak / ps_state, 2),
                  rounds.empty() ? "-" : rounds});
    nlohmann::json jcosts = nlohmann::json::array();
    for (const auto& [id, per_ps] : c.ps_costs)
      for (const PsCheckpointCost& p : per_ps)
        jcosts.push_back({{"checkpoint", id}, {"clock", p.clock}, {"durable_ms", p.durable_ms},
                          {"capture_pause_ms", p.pause_ms}, {"write_ms", p.write_ms},
                          {"copied_on_write_mb", p.copied_mb}, {"copying_ms", p.copy_ms}});
    jruns.push_back({{"servers", c.servers},
                     {"ps_checkpoints", jcosts},
                     {"samples_per_second", c.samples_per_second},
                     {"worker_steps", c.timing.steps},
                     {"worker_compute_ms_per_step", compute},
                     {"plain_compute_ms_before", c.plain_before_ms},
                     {"plain_compute_ms_after", c.plain_after_ms},
                     {"worker_wait_ms", c.timing.wait_pull_ms},
                     {"worker_push_ms", c.timing.push_ms},
                     {"compute_vs_plain", ratio},
                     {"worker_peak_rss_bytes", c.worker_peak},
                     {"ps_peak_rss_bytes", c.ps_peak},
                     {"checkpoint_rounds_ms", c.checkpoint_rounds_ms},
                     {"checkpoint_write_s", ckpts[i].write_s + ckpts[i].capture_s},
                     {"checkpoint_capture_pause_ms", ckpts[i].capture_s * 1e3},
                     {"checkpoint_copied_on_write_bytes", ckpts[i].cow.bytes_copied},
                     {"checkpoint_restore_s", ckpts[i].restore_s},
                     {"checkpoint_restore_read_s", ckpts[i].restore_read_s}});
    report.summary.push_back(fmt::format(
        "large {}: {:.1f} samples/s, worker compute {:.0f} ms/step ({:.2f}x plain), worker peak "
        "RSS {:.2f}x the model, PS {:.2f}x its state; checkpoint write {:.2f} s, restore {:.2f} s",
        name, c.samples_per_second, compute, ratio, c.worker_peak / model_bytes,
        c.ps_peak / ps_state, ckpts[i].capture_s + ckpts[i].write_s, ckpts[i].restore_s));
  }
  table.Print();
  Table ct({"PS shard", "params + Adam state", "capture pause ms", "durable write s",
            "next clock s", "copied on write", "restore s", "of which read s"});
  for (size_t i = 0; i < ckpts.size(); ++i) {
    const CheckpointTimes& c = ckpts[i];
    ct.AddRow({fmt::format("1 of {}", runs[i].servers), fmt::format("{:.2f} GB", c.bytes / kGB),
               Fixed(c.capture_s * 1e3, 2), Fixed(c.write_s, 2), Fixed(c.train_s, 2),
               fmt::format("{:.0f} MB ({:.0f}%)", c.cow.bytes_copied / 1e6,
                           c.bytes ? 100.0 * c.cow.bytes_copied / c.bytes : 0.0),
               Fixed(c.restore_s, 2), Fixed(c.restore_read_s, 2)});
  }
  std::cout << "\n  checkpoint of one PS (its own code in this process, RocksDB synced; the next\n"
               "  clock's updates applied in key order while the writer runs):\n";
  ct.Print();
  Table lt({"cluster", "checkpoint", "clock to durable ms", "capture pause ms", "write ms",
            "copied on write", "copying ms"});
  for (const ClusterRun& c : runs) {
    for (const auto& [id, per_ps] : c.ps_costs) {
      // The round is as late as its slowest PS; the copies add up over PSs.
      PsCheckpointCost worst;
      double copied_mb = 0, copy_ms = 0;
      uint64_t blocks = 0;
      for (const PsCheckpointCost& p : per_ps) {
        worst.clock = p.clock;
        worst.durable_ms = std::max(worst.durable_ms, p.durable_ms);
        worst.pause_ms = std::max(worst.pause_ms, p.pause_ms);
        worst.write_ms = std::max(worst.write_ms, p.write_ms);
        copied_mb += p.copied_mb;
        blocks += p.copied_blocks;
        copy_ms = std::max(copy_ms, p.copy_ms);
      }
      lt.AddRow({fmt::format("{} PS + 1 worker", c.servers),
                 fmt::format("{} at clock {}", id, worst.clock), Fixed(worst.durable_ms, 0),
                 Fixed(worst.pause_ms, 1), Fixed(worst.write_ms, 0),
                 fmt::format("{:.0f} MB ({} blocks)", copied_mb, blocks), Fixed(copy_ms, 1)});
    }
  }
  std::cout << "\n  the live cluster's checkpoints, as each PS logged them (slowest PS per round):\n";
  lt.Print();
  std::cout << "  worker compute: the worker's own split of its steps (worker log), against the plain\n"
               "  trainer's forward + backward of the same model on this thread, timed right before\n"
               "  and right after the cluster ran (their mean). Peak RSS: VmHWM of the processes;\n"
               "  'vs model' divides by the model's float32 bytes, 'beyond params + grads' is what\n"
               "  the worker holds on top of its two model-sized buffers, 'vs its state' divides by\n"
               "  the PS's parameters + Adam moments. ckpt rounds: the scheduler's coordinated rounds,\n"
               "  from the request to every PS having written (includes training up to its clock).\n"
               "  Live checkpoints: 'clock to durable' from the moment the PS has captured every block\n"
               "  at the round's clock to the write being synced; 'capture pause' the serving\n"
               "  thread's capture work; 'copied on write' the blocks training changed before the\n"
               "  writer read them ('copying ms': the serving thread's time spent on those copies).\n";
  report.json["large"] = {{"parameters", params},
                          {"plain_compute_ms", plain.compute_ms},
                          {"plain_adam_ms", plain.update_ms},
                          {"runs", jruns}};
  return Status::OK();
}

}  // namespace pst::bench
