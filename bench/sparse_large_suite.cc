#include "bench/sparse_large_suite.h"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "bench/cluster_run.h"
#include "common/sparse_model_tables.h"
#include "datagen/synthetic_ctr.h"
#include "ps/checkpoint_writer.h"
#include "ps/rocksdb_param_store.h"
#include "ps/sparse_handler.h"

namespace pst::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr double kGB = 1e9;
constexpr const char* kTable = "dlrm.emb";

JobSpec LargeJob(const std::string& data, uint64_t checkpoint_every) {
  JobSpec job = SyntheticEmbeddingMlpJob(data);
  job.train.test_limit = 20'000;
  job.checkpoint.every_steps = checkpoint_every;
  job.num_servers = 1;
  job.num_workers = 1;
  return job;
}

struct ClusterRun {
  double samples_per_second = 0;
  double test_auc = 0;
  uint64_t ps_peak = 0, worker_peak = 0;
  std::vector<double> rounds_ms;
  uint32_t checkpoints = 0;
};

StatusOr<ClusterRun> RunCluster(const JobSpec& job, const std::string& run_dir,
                                const std::string& bin_dir) {
  RssSampler sampler(run_dir);
  auto r = LaunchQuiet(job, run_dir, bin_dir, std::chrono::seconds(1800));
  sampler.Stop();
  if (!r.ok()) return r.status();
  ClusterRun c;
  c.samples_per_second = r->samples_per_second;
  c.test_auc = r->final_test_auc;
  const auto peaks = sampler.peaks();
  c.ps_peak = peaks.count("pstrain-ps") ? peaks.at("pstrain-ps") : 0;
  c.worker_peak = peaks.count("pstrain-worker") ? peaks.at("pstrain-worker") : 0;
  c.rounds_ms = ReadCheckpointRounds(run_dir);
  c.checkpoints = r->checkpoints;
  return c;
}

// Replays checkpoint `id` of `read` into a fresh copy of the job's PS shard.
StatusOr<std::unique_ptr<SparseHandler>> RestoreShard(
    const JobSpec& job, const CheckpointManifest& m,
    const std::function<Status(const SparseChainFn&)>& replay) {
  PST_ASSIGN_OR_RETURN(std::vector<TableSpec> tables, SparseModelTables(job));
  PST_ASSIGN_OR_RETURN(auto handler,
                       SparseHandler::ForJob(tables, Consistency::kAsp, 1, SlotMap::Even(1, 1).value(), 0, {}));
  PST_RETURN_IF_ERROR(handler->shard().Restore(m.sparse_tables, replay));
  return handler;
}

struct CheckpointRun {
  uint64_t rows = 0;           // rows stored
  double capture_s = 0;        // BeginCapture to TakeCapture (live: no rows copied)
  double capture_bytes = 0;    // resident-memory growth while the capture is held
  double write_s = 0;          // CheckpointWriter's synced RocksDB write
};

// Captures the shard (full or the changes since the last capture) as
// checkpoint `id`, live as a PS does (the writer reads the rows from the
// tables), and writes and commits it through `writer`.
StatusOr<CheckpointRun> WriteCheckpoint(SparseShard& shard, CheckpointWriter& writer, uint64_t id,
                                        uint64_t parent, uint32_t chain,
                                        CheckpointManifest* manifest) {
  CheckpointRun r;
  const uint64_t rss0 = ResidentBytes();
  const auto t0 = Clock::now();
  PST_RETURN_IF_ERROR(shard.BeginCapture(id, id, parent == 0, /*live=*/true));
  shard.CaptureRemaining();
  auto cap = shard.TakeCapture();
  if (!cap) return Status::Internal("the sparse capture was not ready after CaptureRemaining");
  r.capture_s = Since(t0);
  r.capture_bytes = double(ResidentBytes()) - double(rss0);
  CheckpointManifest m;
  m.checkpoint_id = id;
  m.clock = id;
  m.job_fingerprint = "bench";
  m.sparse_parent = parent;
  m.sparse_chain = chain;
  m.sparse_tables = cap->tables;
  for (const SparseTableManifest& t : cap->tables) r.rows += t.changed;
  *manifest = m;
  const auto t1 = Clock::now();
  writer.Write(std::move(m), std::vector<BlockState>{}, std::move(cap->rows));
  cap.reset();
  PST_RETURN_IF_ERROR(writer.Drain(std::chrono::minutes(20)));
  r.write_s = Since(t1);
  for (const auto& res : writer.Poll()) PST_RETURN_IF_ERROR(res.status.WithContext("write"));
  writer.Commit(id);
  PST_RETURN_IF_ERROR(writer.Drain(std::chrono::minutes(1)));
  for (const auto& res : writer.Poll()) PST_RETURN_IF_ERROR(res.status.WithContext("commit"));
  return r;
}

// Updates every tenth row of `table` once (Adagrad, as a push would).
StatusOr<uint64_t> TouchTenth(SparseTable& table) {
  std::vector<uint64_t> ids;
  uint64_t n = 0;
  table.ForEachRow([&](uint64_t id, const float*, uint64_t) {
    if (n++ % 10 == 0) ids.push_back(id);
  });
  std::vector<float> grads(size_t{65536} * table.dim(), 0.01f);
  for (size_t i = 0; i < ids.size(); i += 65536) {
    const size_t k = std::min<size_t>(65536, ids.size() - i);
    PST_RETURN_IF_ERROR(table.Push({ids.data() + i, k}, grads.data(), 1.0f / 256, 1'000'000));
  }
  return ids.size();
}

}  // namespace

Status RunSparseLargeSuite(const SparseLargeConfig& config, Report& report) {
  PST_ASSIGN_OR_RETURN(const std::string tmp_dir, MakeTempDir("sparse-large"));
  const std::string data = tmp_dir + "/synthetic";
  fs::create_directories(data);
  SyntheticCtrOptions g;
  g.num_samples = config.samples;
  g.vocabulary = {config.vocabulary};
  g.zipf_s = config.zipf;
  Progress(fmt::format("sparse-large: generating {} synthetic samples, vocabulary {} per field, "
                       "Zipf({})",
                       FormatCount(config.samples), FormatCount(config.vocabulary), config.zipf));
  PST_ASSIGN_OR_RETURN(SyntheticCtrStats gs,
                       GenerateSyntheticCtr(g, data + "/train.tsv", data + "/test.tsv"));
  const JobSpec job = LargeJob(data, config.checkpoint_every);
  PST_RETURN_IF_ERROR(ValidateJobSpec(job));

  const std::string run_dir = tmp_dir + "/run";
  Progress(fmt::format("sparse-large: pstrain launch 1 PS + 1 worker, embedding + MLP dim 16, "
                       "Adagrad, BSP, {} train samples, checkpoint every {} steps",
                       FormatCount(gs.train_samples), config.checkpoint_every));
  PST_ASSIGN_OR_RETURN(ClusterRun run, RunCluster(job, run_dir, config.bin_dir));

  // The PS's last checkpoint, restored here with the PS's own code.
  Progress("sparse-large: restoring the PS's last checkpoint in this process");
  RocksDbParamStoreOptions so;
  so.path = run_dir + "/state/ps-0";
  so.read_only = true;
  PST_ASSIGN_OR_RETURN(auto ps_store, RocksDbParamStore::Open(so));
  PST_ASSIGN_OR_RETURN(std::vector<uint64_t> committed, ps_store->ListCommitted());
  if (committed.empty()) return Status::Internal("the PS wrote no checkpoint (" + run_dir + ")");
  PST_ASSIGN_OR_RETURN(auto last, ps_store->ReadCheckpoint(committed.back()));
  const CheckpointManifest& pm = last.first;
  const uint64_t rss0 = ResidentBytes();
  auto t0 = Clock::now();
  PST_ASSIGN_OR_RETURN(auto handler, RestoreShard(job, pm, [&](const SparseChainFn& fn) {
                         return ps_store->ReadSparseChain(pm.checkpoint_id, true, fn);
                       }));
  const double restore_ps_s = Since(t0);
  const double restored_rss = double(ResidentBytes()) - double(rss0);
  ps_store.reset();
  SparseTable& table = *handler->shard().FindTable(kTable);
  const SparseTableStats stats = table.stats();
  const double raw = double(stats.raw_bytes_per_row) * double(stats.rows);

  // Full and incremental checkpoints of those rows, then the chain's restore.
  PST_ASSIGN_OR_RETURN(auto store, RocksDbParamStore::Open({tmp_dir + "/ckpt"}));
  PST_ASSIGN_OR_RETURN(auto writer, CheckpointWriter::Start(std::move(store)));
  CheckpointManifest m1, m2;
  Progress(fmt::format("sparse-large: full checkpoint of {} rows (synced RocksDB)",
                       FormatCount(stats.rows)));
  PST_ASSIGN_OR_RETURN(CheckpointRun full, WriteCheckpoint(handler->shard(), *writer, 1, 0, 0, &m1));
  PST_ASSIGN_OR_RETURN(uint64_t touched, TouchTenth(table));
  Progress(fmt::format("sparse-large: incremental checkpoint after updates to {} rows",
                       FormatCount(touched)));
  PST_ASSIGN_OR_RETURN(CheckpointRun inc, WriteCheckpoint(handler->shard(), *writer, 2, 1, 1, &m2));
  handler.reset();
  Progress("sparse-large: restoring the full + incremental chain");
  t0 = Clock::now();
  PST_ASSIGN_OR_RETURN(auto restored, RestoreShard(job, m2, [&](const SparseChainFn& fn) {
                         return writer->ReadSparseChain(2, true, fn);
                       }));
  const double restore_chain_s = Since(t0);
  const uint64_t restored_rows = restored->shard().FindTable(kTable)->stats().rows;
  if (restored_rows != stats.rows)
    return Status::Internal(fmt::format("the chain restored {} rows of {}", restored_rows,
                                        stats.rows));
  restored.reset();
  writer.reset();
  std::error_code ec;
  fs::remove_all(tmp_dir, ec);

  std::cout << fmt::format(
      "\n== sparse-large: embedding + MLP (dim 16, hidden 64-32, Adagrad), 1 PS + 1 worker, BSP, "
      "{} train samples, vocabulary {} per field, Zipf({}) ==\n",
      FormatCount(gs.train_samples), FormatCount(config.vocabulary), config.zipf);
  Table t1({"rows", "raw (key+row+state)", "samples/s", "test AUC", "PS peak RSS", "vs raw",
            "worker peak RSS", "checkpoints", "rounds (ms)"});
  std::string rounds;
  for (double ms : run.rounds_ms) rounds += (rounds.empty() ? "" : " ") + Fixed(ms, 0);
  t1.AddRow({FormatCount(stats.rows), fmt::format("{:.2f} GB", raw / kGB),
             Fixed(run.samples_per_second, 0), Fixed(run.test_auc, 4),
             fmt::format("{:.2f} GB", run.ps_peak / kGB), Fixed(run.ps_peak / raw, 2),
             fmt::format("{:.2f} GB", run.worker_peak / kGB), std::to_string(run.checkpoints),
             rounds.empty() ? "-" : rounds});
  t1.Print();
  std::cout << "  rows: the PS's last checkpoint. PS peak RSS: VmHWM of pstrain-ps over the run\n"
               "  (checkpoint captures included); rounds: the scheduler's coordinated rounds.\n";
  Table t2({"PS code in this process", "rows", "capture s", "capture RSS", "write s", "restore s"});
  t2.AddRow({"restore of the PS's last checkpoint", FormatCount(stats.rows), "-",
             "-", "-", Fixed(restore_ps_s, 2)});
  t2.AddRow({"full checkpoint", FormatCount(full.rows), Fixed(full.capture_s, 2),
             fmt::format("{:.2f} GB", full.capture_bytes / kGB), Fixed(full.write_s, 2), "-"});
  t2.AddRow({"incremental (a tenth of the rows updated)", FormatCount(inc.rows),
             Fixed(inc.capture_s, 2), fmt::format("{:.2f} GB", inc.capture_bytes / kGB),
             Fixed(inc.write_s, 2), "-"});
  t2.AddRow({"restore of full + incremental", FormatCount(restored_rows), "-", "-", "-",
             Fixed(restore_chain_s, 2)});
  t2.Print();
  std::cout << fmt::format(
      "  restored table: {:.1f} B/row resident ({:.2f}x raw {} B), {:.1f} B/row accounted\n",
      restored_rss / double(stats.rows), restored_rss / raw, stats.raw_bytes_per_row,
      double(stats.bytes) / double(stats.rows));

  report.json["sparse_large"] = {
      {"train_samples", gs.train_samples},
      {"rows", stats.rows},
      {"raw_bytes", raw},
      {"samples_per_second", run.samples_per_second},
      {"test_auc", run.test_auc},
      {"ps_peak_rss_bytes", run.ps_peak},
      {"worker_peak_rss_bytes", run.worker_peak},
      {"checkpoint_rounds_ms", run.rounds_ms},
      {"restore_ps_checkpoint_s", restore_ps_s},
      {"restored_rss_bytes", restored_rss},
      {"full", {{"rows", full.rows}, {"capture_s", full.capture_s},
                {"capture_rss_bytes", full.capture_bytes}, {"write_s", full.write_s}}},
      {"incremental", {{"rows", inc.rows}, {"capture_s", inc.capture_s},
                       {"capture_rss_bytes", inc.capture_bytes}, {"write_s", inc.write_s}}},
      {"restore_chain_s", restore_chain_s}};
  report.summary.push_back(fmt::format(
      "sparse-large: {} rows, {:.0f} samples/s, PS peak RSS {:.2f}x raw; full checkpoint {:.1f} s "
      "(capture {:.1f} s, +{:.2f} GB), incremental {:.1f} s, restore {:.1f} s",
      FormatCount(stats.rows), run.samples_per_second, run.ps_peak / raw,
      full.capture_s + full.write_s, full.capture_s, full.capture_bytes / kGB,
      inc.capture_s + inc.write_s, restore_chain_s));
  return Status::OK();
}

}  // namespace pst::bench
