#include "cli/eval_command.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/checkpoint_model.h"
#include "worker/dataset.h"
#include "worker/idx_reader.h"
#include "worker/mlp.h"

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

}  // namespace

StatusOr<EvalResult> EvaluateCheckpoint(const EvalOptions& options) {
  PST_ASSIGN_OR_RETURN(CheckpointModel model,
                       LoadCheckpointModel(options.run_dir, options.checkpoint));
  EvalResult r;
  r.checkpoint_id = model.record.id;
  r.clock = model.record.clock;
  r.epoch = model.record.epoch;
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
    out << j.dump() << "\n";
    return Status::OK();
  }
  out << fmt::format("checkpoint {} (clock {}, epoch {})\n", r.checkpoint_id, r.clock, r.epoch + 1);
  out << fmt::format("test accuracy {:.4f} ({} of {} samples), test loss {:.4f}\n", r.accuracy,
                     r.correct, r.samples, r.mean_loss);
  out << fmt::format("test set: {}\n", r.data_dir);
  return Status::OK();
}

}  // namespace pst
