#include "cli/job_flags.h"

#include <sstream>

#include "common/job_file.h"
#include "common/optimizer_catalog.h"

namespace pst {

void JobFlags::Register(CLI::App& app) {
  app.add_option("--job", job_file_, "Job file (TOML); flags below override its fields")
      ->check(CLI::ExistingFile);
  app.add_option("--servers", servers_, "Number of parameter servers [2]");
  app.add_option("--workers", workers_, "Number of workers [2]");
  app.add_option("--epochs", epochs_, "Passes over the training set [5]");
  app.add_option("--batch-size", batch_size_, "Samples per worker per step [64]");
  app.add_option("--batches-per-shard", batches_per_shard_, "Batches in one leased data shard [16]");
  app.add_option("--lr", lr_, "Learning rate [0.001]");
  app.add_option("--clip-norm", clip_norm_, "Clip each worker's gradient to this global L2 norm (0 = off) [0]");
  app.add_option("--optimizer", optimizer_,
                 DenseOptimizerNames("|") + " [" + OptimizerKindName(OptimizerSpec{}.kind) + "]");
  app.add_option("--layers", layers_, "Layer sizes, input to classes [784,128,10]");
  app.add_option("--activation", activation_, "relu|tanh|sigmoid [relu]");
  app.add_option("--init", init_, "he|xavier [he]");
  app.add_option("--loss", loss_,
                 "softmax|squared|logistic (with --layers IN,CLASSES: softmax, linear or "
                 "logistic regression) [softmax]");
  app.add_option("--seed", seed_, "Seed for initialisation and shuffling [1]");
  app.add_option("--consistency", consistency_, "bsp|asp|ssp [bsp]");
  app.add_option("--staleness", staleness_, "SSP staleness bound [0]");
  app.add_option("--target-accuracy", target_accuracy_,
                 "Stop as soon as an epoch's test accuracy reaches this (0 = off) [0]");
  app.add_option("--target-auc", target_auc_,
                 "Sparse models: stop as soon as an epoch's test AUC reaches this (0 = off) [0]");
  app.add_option("--train-limit", train_limit_, "Use only the first N training samples (0 = all)");
  app.add_option("--test-limit", test_limit_, "Evaluate on the first N test samples (0 = all)");
  app.add_option("--checkpoint-every-steps", ckpt_steps_,
                 "Coordinated checkpoint every N clocks (0 = off) [500]");
  app.add_option("--checkpoint-every-seconds", ckpt_seconds_,
                 "Also checkpoint every S seconds (0 = off) [0]");
  app.add_option("--checkpoint-keep", ckpt_keep_, "Complete checkpoints kept on disk [3]");
  app.add_option("--data-dir", data_dir_,
                 "Directory with the Fashion-MNIST IDX files [/usr/share/datasets/fashion-mnist]");
}

StatusOr<JobSpec> JobFlags::Resolve() const {
  JobSpec job;
  if (!job_file_.empty()) {
    PST_ASSIGN_OR_RETURN(job, LoadJobFile(job_file_));
  }
  if (servers_) job.num_servers = *servers_;
  if (workers_) job.num_workers = *workers_;
  if (epochs_) job.train.epochs = *epochs_;
  if (batch_size_) job.train.batch_size = *batch_size_;
  if (batches_per_shard_) job.train.batches_per_shard = *batches_per_shard_;
  if (staleness_) job.train.staleness = *staleness_;
  if (train_limit_) job.train.train_limit = *train_limit_;
  if (test_limit_) job.train.test_limit = *test_limit_;
  if (seed_) job.model.seed = *seed_;
  if (lr_) job.optimizer.learning_rate = *lr_;
  if (clip_norm_) job.optimizer.clip_norm = *clip_norm_;
  if (target_accuracy_) job.train.target_accuracy = *target_accuracy_;
  if (target_auc_) job.train.target_auc = *target_auc_;
  if (data_dir_) job.data_dir = *data_dir_;
  if (ckpt_steps_) job.checkpoint.every_steps = *ckpt_steps_;
  if (ckpt_seconds_) job.checkpoint.every_seconds = *ckpt_seconds_;
  if (ckpt_keep_) job.checkpoint.keep = *ckpt_keep_;
  if (optimizer_) {
    auto k = ParseOptimizerKind(*optimizer_);
    if (!k.ok()) return k.status().WithContext("--optimizer");
    job.optimizer.kind = *k;
  }
  if (activation_) {
    auto a = ParseActivation(*activation_);
    if (!a.ok()) return a.status().WithContext("--activation");
    job.model.activation = *a;
  }
  if (loss_) {
    auto l = ParseLossKind(*loss_);
    if (!l.ok()) return l.status().WithContext("--loss");
    job.model.loss = *l;
  }
  if (init_) {
    auto i = ParseInitKind(*init_);
    if (!i.ok()) return i.status().WithContext("--init");
    job.model.init = *i;
  }
  if (consistency_) {
    auto c = ParseConsistency(*consistency_);
    if (!c.ok()) return c.status().WithContext("--consistency");
    job.train.consistency = *c;
  }
  if (layers_) {
    job.model.layer_sizes.clear();
    std::stringstream ss(*layers_);
    std::string item;
    while (std::getline(ss, item, ',')) {
      char* end = nullptr;
      const unsigned long v = std::strtoul(item.c_str(), &end, 10);
      if (item.empty() || *end != '\0' || v == 0 || v > (1ul << 24))
        return Status::InvalidArgument("--layers: expected sizes like 784,128,10, got '" + *layers_ + "'");
      job.model.layer_sizes.push_back(static_cast<uint32_t>(v));
    }
  }
  PST_RETURN_IF_ERROR(ValidateJobSpec(job));
  return job;
}

}  // namespace pst
