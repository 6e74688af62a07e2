// Command-line flags that describe a job (shared by `pstrain launch` and
// `pstrain local`). A job file given with --job is read first; flags given on
// the command line override its fields.
#pragma once

#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "common/job_spec.h"
#include "common/status.h"

namespace pst {

class JobFlags {
 public:
  // Registers the flags on `app`.
  void Register(CLI::App& app);
  // After parsing: the job file (or defaults) with the given flags applied, validated.
  StatusOr<JobSpec> Resolve() const;

 private:
  std::string job_file_;
  std::optional<uint32_t> servers_, workers_, epochs_, batch_size_, batches_per_shard_, staleness_;
  std::optional<uint64_t> train_limit_, test_limit_, seed_, ckpt_steps_;
  std::optional<uint32_t> ckpt_seconds_, ckpt_keep_;
  std::optional<float> lr_, clip_norm_;
  std::optional<float> target_accuracy_;
  std::optional<float> target_auc_;
  std::optional<std::string> optimizer_, layers_, activation_, init_, consistency_, data_dir_,
      loss_;
};

}  // namespace pst
