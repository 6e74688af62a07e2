#include "bench/sparse_train_suite.h"

#include <atomic>
#include <cmath>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "bench/ctr_reference.h"
#include "bench/cluster_run.h"
#include "cli/local_sparse_trainer.h"
#include "common/job_file.h"
#include "common/job_spec.h"
#include "datagen/synthetic_ctr.h"
#include "worker/sparse_work.h"

namespace pst::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// The quality bar of issue #13: cluster and reference test AUC within this.
constexpr double kAucTolerance = 0.005;

// The reference trainer's options for a sparse job: same files, reader, model,
// batch, epochs and Adagrad rate.
CtrReferenceOptions ReferenceOptionsFor(const JobSpec& job) {
  CtrReferenceOptions o;
  o.train_path = job.sparse_data.train;
  o.test_path = job.sparse_data.test;
  o.reader = SparseReaderOptionsFor(job.sparse_data);
  o.model = SparseModelConfigFor(job);
  o.batch_size = job.train.batch_size;
  o.epochs = job.train.epochs;
  o.learning_rate = job.optimizer.learning_rate;
  return o;
}

// Why the reference cannot train what `job` trains, or "" if it can (it knows
// Adagrad with one rate for every table, no admission or eviction).
std::string ReferenceMismatch(const JobSpec& job) {
  if (job.optimizer.kind != OptimizerKind::kAdagrad) return "the job's optimizer is not adagrad";
  if (!job.sparse_tables.empty()) return "the job configures its sparse tables ([[sparse_table]])";
  return "";
}

struct Trained {
  std::string name;  // "reference, 1 process" / "1 PS + 1 worker"
  uint64_t samples = 0;
  double train_seconds = 0;  // training passes only (evaluations excluded)
  double test_auc = 0;
  double sps() const { return train_seconds > 0 ? double(samples) / train_seconds : 0; }
};

StatusOr<Trained> TrainReference(const JobSpec& job) {
  const CtrReferenceOptions o = ReferenceOptionsFor(job);
  Trained t;
  t.name = "reference, one process";
  uint64_t samples = 0;
  {
    PST_ASSIGN_OR_RETURN(auto reader, SparseReader::Open({o.train_path}, o.reader));
    SparseBatch batch;
    while (true) {
      PST_ASSIGN_OR_RETURN(size_t n, reader->ReadBatch(4096, &batch));
      if (n == 0) break;
      samples += n;
    }
  }
  PST_ASSIGN_OR_RETURN(std::vector<CtrEpochResult> epochs, TrainCtrReference(o));
  for (const CtrEpochResult& e : epochs) t.train_seconds += e.seconds;
  t.samples = samples * epochs.size();
  t.test_auc = epochs.back().test_auc;
  return t;
}

StatusOr<Trained> TrainCluster(const JobSpec& job, const std::string& run_dir,
                               const std::string& bin_dir) {
  PST_ASSIGN_OR_RETURN(LaunchResult r,
                       LaunchQuiet(job, run_dir, bin_dir, std::chrono::seconds(900)));
  Trained t;
  t.name = fmt::format("{} PS + {} worker{}", job.num_servers, job.num_workers,
                       job.num_workers == 1 ? "" : "s");
  for (const EpochSummary& e : r.epochs) {
    t.samples += e.samples;
    t.train_seconds += e.seconds;
  }
  t.test_auc = r.final_test_auc;
  std::error_code ec;
  fs::remove_all(run_dir, ec);
  return t;
}

// Embedding + MLP on freshly generated synthetic data: the reference, 1 + 1
// and 2 + 2.
Status RunThroughput(const SparseTrainConfig& config, const std::string& tmp_dir,
                     nlohmann::json* j, Report& report) {
  SyntheticCtrOptions g;
  g.num_samples = config.samples;
  g.vocabulary = {config.vocabulary};
  const std::string data = tmp_dir + "/synthetic";
  fs::create_directories(data);
  Progress(fmt::format("sparse-train: generating {} synthetic samples, vocabulary {} per field",
                       FormatCount(config.samples), FormatCount(config.vocabulary)));
  PST_ASSIGN_OR_RETURN(SyntheticCtrStats gs,
                       GenerateSyntheticCtr(g, data + "/train.tsv", data + "/test.tsv"));

  JobSpec job = SyntheticEmbeddingMlpJob(data);
  PST_RETURN_IF_ERROR(ValidateJobSpec(job));

  std::vector<Trained> runs;
  Progress("sparse-train: embedding + MLP in this process (PS tables, no network)");
  SparseLocalOptions local;
  local.evaluate_every_epoch = false;
  PST_ASSIGN_OR_RETURN(SparseLocalResult in, TrainSparseLocal(job, local));
  const Trained base{"in process, one thread", in.samples, in.train_seconds, in.test_auc};
  runs.push_back(base);
  Progress("sparse-train: embedding + MLP, reference trainer in this process");
  PST_ASSIGN_OR_RETURN(Trained ref, TrainReference(job));
  runs.push_back(ref);
  for (uint32_t n : {1u, 2u}) {
    job.num_servers = n;
    job.num_workers = n;
    Progress(fmt::format("sparse-train: embedding + MLP, pstrain launch {} PS + {} worker{}, BSP",
                         n, n, n == 1 ? "" : "s"));
    PST_ASSIGN_OR_RETURN(Trained c,
                         TrainCluster(job, fmt::format("{}/emb-{}ps", tmp_dir, n), config.bin_dir));
    runs.push_back(c);
  }

  std::cout << fmt::format(
      "\n== sparse-train: embedding + MLP (dim 16, hidden 64-32, Adagrad 0.05, batch 256, 1 "
      "epoch, BSP) on {} synthetic train samples (vocabulary {} per field; best achievable test "
      "AUC {:.4f}) ==\n",
      FormatCount(gs.train_samples), FormatCount(config.vocabulary), gs.best_test_auc);
  Table table({"run", "samples", "train s", "samples/s", "vs in process", "test AUC"});
  (*j)["embedding_mlp"] = {{"train_samples", gs.train_samples},
                           {"vocabulary", config.vocabulary},
                           {"best_test_auc", gs.best_test_auc},
                           {"runs", nlohmann::json::array()}};
  for (const Trained& t : runs) {
    table.AddRow({t.name, FormatCount(t.samples), Fixed(t.train_seconds, 2), Fixed(t.sps(), 0),
                  Fixed(t.sps() / base.sps(), 2), Fixed(t.test_auc, 4)});
    (*j)["embedding_mlp"]["runs"].push_back({{"run", t.name},
                                             {"samples", t.samples},
                                             {"train_seconds", t.train_seconds},
                                             {"samples_per_second", t.sps()},
                                             {"vs_in_process", t.sps() / base.sps()},
                                             {"test_auc", t.test_auc}});
  }
  table.Print();
  std::cout << "  in process: the worker's reader and model with the PS's tables and optimizers "
               "on one thread, no network\n  (cli/local_sparse_trainer.h); reference: "
               "pstrain-ctr-reference's plain trainer (the quality baseline).\n"
               "  train s: the training passes only (the clusters' epochs from first lease to "
               "close), evaluations excluded.\n";
  report.summary.push_back(fmt::format(
      "sparse-train embedding+MLP: in process {:.0f} samples/s, 1 PS + 1 worker {:.0f} ({:.2f}), "
      "2 PS + 2 workers {:.0f} ({:.2f})",
      base.sps(), runs[2].sps(), runs[2].sps() / base.sps(), runs[3].sps(),
      runs[3].sps() / base.sps()));
  return Status::OK();
}

struct QualityJob {
  const char* file;     // in examples_dir
  const char* prepare;  // the command that prepares its data
};

// LR and FM on MovieLens and SpamAssassin: example job against the reference.
Status RunQuality(const SparseTrainConfig& config, const std::string& tmp_dir,
                  nlohmann::json* j, Report& report) {
  static const QualityJob kJobs[] = {
      {"movielens_lr.toml", "deploy/data/prepare_movielens.sh"},
      {"movielens_fm.toml", "deploy/data/prepare_movielens.sh"},
      {"spam_lr.toml", "deploy/data/prepare_spam_assassin.sh"},
      {"spam_fm.toml", "deploy/data/prepare_spam_assassin.sh"},
  };
  Table table({"job file", "cluster", "cluster test AUC", "reference", "difference", "within 0.005"});
  (*j)["quality"] = nlohmann::json::array();
  bool all_within = true;
  for (const QualityJob& q : kJobs) {
    const std::string path = config.examples_dir + "/" + q.file;
    PST_ASSIGN_OR_RETURN(JobSpec job, LoadJobFile(path));
    if (!fs::exists(job.sparse_data.train) || !fs::exists(job.sparse_data.test)) {
      const std::string why = fmt::format("{} is missing: prepare it with {}",
                                          job.sparse_data.train, q.prepare);
      Progress(fmt::format("sparse-train: {} skipped ({})", q.file, why));
      table.AddRow({q.file, "-", "-", "-", "-", "skipped: " + why});
      (*j)["quality"].push_back({{"job", q.file}, {"skipped", why}});
      report.summary.push_back(fmt::format("sparse-train quality {}: skipped ({})", q.file, why));
      continue;
    }
    if (const std::string why = ReferenceMismatch(job); !why.empty())
      return Status::InvalidArgument(fmt::format("{}: the reference cannot mirror it: {}", path, why));
    Progress(fmt::format("sparse-train: {} with pstrain launch ({} PS + {} workers) and the "
                         "reference trainer",
                         q.file, job.num_servers, job.num_workers));
    PST_ASSIGN_OR_RETURN(Trained c, TrainCluster(job, fmt::format("{}/{}", tmp_dir, q.file),
                                                 config.bin_dir));
    PST_ASSIGN_OR_RETURN(Trained ref, TrainReference(job));
    const double diff = c.test_auc - ref.test_auc;
    const bool within = std::abs(diff) <= kAucTolerance;
    all_within = all_within && within;
    table.AddRow({q.file, c.name, Fixed(c.test_auc, 4), Fixed(ref.test_auc, 4),
                  fmt::format("{:+.4f}", diff), within ? "yes" : "NO"});
    (*j)["quality"].push_back({{"job", q.file},
                               {"cluster", c.name},
                               {"epochs", job.train.epochs},
                               {"cluster_test_auc", c.test_auc},
                               {"reference_test_auc", ref.test_auc},
                               {"difference", diff},
                               {"within_tolerance", within}});
    report.summary.push_back(fmt::format(
        "sparse-train quality {}: cluster AUC {:.4f}, reference {:.4f}, difference {:+.4f}{}",
        q.file, c.test_auc, ref.test_auc, diff, within ? "" : " (ABOVE 0.005)"));
  }
  std::cout << "\n== sparse-train: test AUC of the example jobs against the single-process "
               "reference (same data, split and hyper-parameters) ==\n";
  table.Print();
  if (!all_within) std::cout << "  FLAGGED: a difference is above 0.005\n";
  return Status::OK();
}

}  // namespace

Status RunSparseTrainSuite(const SparseTrainConfig& config, Report& report) {
  PST_ASSIGN_OR_RETURN(const std::string tmp_dir, MakeTempDir("sparse-train"));
  nlohmann::json j;
  PST_RETURN_IF_ERROR(RunThroughput(config, tmp_dir, &j, report));
  if (config.quality) PST_RETURN_IF_ERROR(RunQuality(config, tmp_dir, &j, report));
  report.json["sparse_train"] = j;
  std::error_code ec;
  fs::remove_all(tmp_dir, ec);
  return Status::OK();
}

}  // namespace pst::bench
