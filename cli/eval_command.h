// `pstrain eval RUN_DIR`: evaluates the model of a complete checkpoint of a
// run (see cli/checkpoint_model.h) on the Fashion-MNIST test set, with the
// workers' Mlp (worker/mlp.h), so the numbers match what workers report.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

#include "common/status.h"

namespace pst {

struct EvalOptions {
  // The run directory of a `pstrain launch`.
  std::string run_dir;
  // The checkpoint to evaluate; nullopt = the latest complete one. Default: nullopt.
  std::optional<uint64_t> checkpoint;
  // Directory with the IDX files; empty = the job's data_dir. Default: empty.
  std::string data_dir;
  // Print one JSON object instead of text. Default: false.
  bool json = false;
};

struct EvalResult {
  uint64_t checkpoint_id = 0;
  uint64_t clock = 0;
  uint32_t epoch = 0;    // the record's epoch (0-based)
  std::string data_dir;  // where the test set was read
  uint64_t samples = 0;  // test samples evaluated (the job's test_limit applies)
  uint64_t correct = 0;  // samples whose arg-max prediction is the label
  double accuracy = 0;   // correct / samples
  double mean_loss = 0;  // the model's loss (job.model.loss) averaged over the samples
};

// Loads the checkpoint and the test split and evaluates. Errors: those of
// LoadCheckpointModel; those of LoadFashionMnist (kNotFound with an install
// hint for missing data); kInvalidArgument if the test set does not fit the
// model (feature or class count).
StatusOr<EvalResult> EvaluateCheckpoint(const EvalOptions& options);

// EvaluateCheckpoint, then prints the result to `out`: three lines of text
// (checkpoint id, clock and epoch; accuracy and loss; the data directory), or
// with options.json one JSON object with the fields of EvalResult
// ("checkpoint", "clock", "epoch", "data_dir", "samples", "correct",
// "accuracy", "loss"). Epochs are printed 1-based in both forms.
Status RunEvalCommand(const EvalOptions& options, std::ostream& out);

}  // namespace pst
