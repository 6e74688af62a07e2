#include "cli/eval_command.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/checkpoint_model.h"
#include "common/log.h"
#include "worker/dataset.h"
#include "worker/idx_reader.h"
#include "worker/mlp.h"
#include "worker/sparse_evaluation.h"
#include "worker/sparse_work.h"

namespace pst {
namespace {

// The checks a worker makes before evaluating (worker/worker.cc).
Status CheckTestSetFitsModel(const Dataset& d, const ModelSpec& m, const std::string& dir) {
  if (d.num_samples == 0) return Status::InvalidArgument("the test set in " + dir + " is empty");
  if (d.num_features != m.layer_sizes.front()) {
    return Status::InvalidArgument(fmt::format(
        "the test set in {} has {} features per sample but the model's input layer has {} "
        "(pass the job's data set with --data-dir)",
        dir, d.num_features, m.layer_sizes.front()));
  }
  if (d.num_classes > m.layer_sizes.back()) {
    return Status::InvalidArgument(fmt::format(
        "the test set in {} has {} classes but the model's output layer has {} (pass the job's "
        "data set with --data-dir)",
        dir, d.num_classes, m.layer_sizes.back()));
  }
  return Status::OK();
}

// Evaluates a sparse model as a worker does (worker/sparse_work.cc), with the
// checkpoint's dense tables and rows read from its merged tables.
Status EvaluateSparse(const EvalOptions& options, CheckpointModel& model, EvalResult* r) {
  const JobSpec& job = model.job;
  r->sparse = true;
  r->data_dir = options.test_file.empty() ? job.sparse_data.test : options.test_file;
  PST_ASSIGN_OR_RETURN(std::unique_ptr<SparseModel> net,
                       CreateSparseModel(SparseModelConfigFor(job)));
  ModelParams params;
  std::vector<SparseTable*> sparse;
  uint64_t offset = 0;
  for (const TableSpec& t : model.tables) {
    if (t.kind == TableKind::kDense) {
      params.dense.push_back(model.params.data() + offset);
      offset += t.size;
    } else {
      sparse.push_back(model.sparse.at(sparse.size()).get());
    }
  }
  if (net->tables().size() != model.tables.size())
    return Status::DataLoss("the checkpoint's tables are not those of its job's model");
  std::vector<std::vector<float>> rows(sparse.size());
  auto pull = [&](const UniqueIds& ids, ModelParams* p) {
    p->sparse.clear();
    for (size_t t = 0; t < sparse.size(); ++t) {
      rows[t].resize(ids.size() * sparse[t]->dim());
      sparse[t]->Pull(ids.ids, rows[t].data());
      p->sparse.push_back({&ids, rows[t].data()});
    }
    return Status::OK();
  };
  PST_ASSIGN_OR_RETURN(std::unique_ptr<SparseReader> reader,
                       SparseReader::Open({r->data_dir}, SparseReaderOptionsFor(job.sparse_data)));
  UniqueIds ids;
  PST_ASSIGN_OR_RETURN(const SparseEvaluation ev,
                       EvaluateSparseModel(*net, *reader, r->data_dir, SparseWorkOptions{}.eval_batch,
                                           &ids, pull, &params));
  if (ev.bad_lines > 0)
    PST_LOG_WARN("{}: skipped {} malformed lines, the last: {}", r->data_dir, ev.bad_lines,
                 ev.last_bad_line);
  r->samples = ev.samples;
  r->correct = ev.correct;
  r->accuracy = double(ev.correct) / double(ev.samples);
  r->mean_loss = ev.log_loss;
  r->auc = ev.auc;
  return Status::OK();
}

}  // namespace

StatusOr<EvalResult> EvaluateCheckpoint(const EvalOptions& options) {
  PST_ASSIGN_OR_RETURN(CheckpointModel model,
                       LoadCheckpointModel(options.run_dir, options.checkpoint));
  EvalResult r;
  r.checkpoint_id = model.record.id;
  r.clock = model.record.clock;
  r.epoch = model.record.epoch;
  if (model.job.sparse()) {
    PST_RETURN_IF_ERROR(EvaluateSparse(options, model, &r));
    return r;
  }
  r.data_dir = options.data_dir.empty() ? model.job.data_dir : options.data_dir;
  PST_ASSIGN_OR_RETURN(Dataset test,
                       LoadFashionMnist(r.data_dir, /*train=*/false, model.job.train.test_limit));
  PST_RETURN_IF_ERROR(CheckTestSetFitsModel(test, model.job.model, r.data_dir));
  PST_ASSIGN_OR_RETURN(Mlp mlp, Mlp::Create(model.job.model));
  r.samples = test.num_samples;
  const Mlp::Evaluation ev = mlp.Evaluate(model.params.data(), test.features.data(),
                                          test.labels.data(), test.num_samples);
  r.correct = ev.correct;
  const double loss_sum = ev.loss_sum;
  r.accuracy = static_cast<double>(r.correct) / static_cast<double>(r.samples);
  r.mean_loss = loss_sum / static_cast<double>(r.samples);
  return r;
}

Status RunEvalCommand(const EvalOptions& options, std::ostream& out) {
  PST_ASSIGN_OR_RETURN(EvalResult r, EvaluateCheckpoint(options));
  if (options.json) {
    nlohmann::json j = {{"checkpoint", r.checkpoint_id}, {"clock", r.clock},
                        {"epoch", r.epoch + 1},          {"data_dir", r.data_dir},
                        {"samples", r.samples},          {"correct", r.correct},
                        {"accuracy", r.accuracy},        {"loss", r.mean_loss}};
    if (r.sparse) {
      j["auc"] = r.auc;
      j["log_loss"] = r.mean_loss;
    }
    out << j.dump() << "\n";
    return Status::OK();
  }
  out << fmt::format("checkpoint {} (clock {}, epoch {})\n", r.checkpoint_id, r.clock, r.epoch + 1);
  if (r.sparse) {
    out << fmt::format("test AUC {:.6f}, log-loss {:.6f}, accuracy {:.4f} ({} of {} samples)\n",
                       r.auc, r.mean_loss, r.accuracy, r.correct, r.samples);
    out << fmt::format("test file: {}\n", r.data_dir);
    return Status::OK();
  }
  out << fmt::format("test accuracy {:.4f} ({} of {} samples), test loss {:.4f}\n", r.accuracy,
                     r.correct, r.samples, r.mean_loss);
  out << fmt::format("test set: {}\n", r.data_dir);
  return Status::OK();
}

}  // namespace pst
