// `pstrain eval RUN_DIR`: evaluates the model of a complete checkpoint of a
// run (see cli/checkpoint_model.h) with the workers' own code, so the numbers
// match what workers report for the same model: the MLP on the Fashion-MNIST
// test set (worker/mlp.h); a sparse model (lr, fm, embedding_mlp) on the job's
// test file, or another file of its format, with the worker's evaluation loop
// (worker/sparse_evaluation.h; ids without a row read as the PS reads them).
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
  // The MLP: directory with the IDX files; empty = the job's data_dir. Default: empty.
  std::string data_dir;
  // A sparse model: the test file (the job's data format); empty = the job's
  // data.test. Default: empty.
  std::string test_file;
  // Print one JSON object instead of text. Default: false.
  bool json = false;
};

struct EvalResult {
  uint64_t checkpoint_id = 0;
  uint64_t clock = 0;
  uint32_t epoch = 0;    // the record's epoch (0-based)
  std::string data_dir;  // where the test set was read (a sparse model: the test file)
  uint64_t samples = 0;  // test samples evaluated (the MLP: the job's test_limit applies)
  uint64_t correct = 0;  // samples whose prediction is the label (arg-max; sparse: p >= 0.5)
  double accuracy = 0;   // correct / samples
  double mean_loss = 0;  // the model's loss (job.model.loss; sparse: log-loss) per sample
  bool sparse = false;   // a sparse model: auc is set
  double auc = 0;        // test AUC (0.5 for a test file of one class)
};

// Loads the checkpoint and the test split and evaluates. Errors: those of
// LoadCheckpointModel; those of LoadFashionMnist (kNotFound with an install
// hint for missing data); kInvalidArgument if the test set does not fit the
// model (feature or class count); a sparse model: the reader's (a missing
// file, a malformed line naming file and line) and kInvalidArgument for a
// file without records.
StatusOr<EvalResult> EvaluateCheckpoint(const EvalOptions& options);

// EvaluateCheckpoint, then prints the result to `out`: three lines of text
// (checkpoint id, clock and epoch; accuracy and loss, for a sparse model AUC,
// log-loss and accuracy; the data directory or test file), or with
// options.json one JSON object with the fields of EvalResult ("checkpoint",
// "clock", "epoch", "data_dir", "samples", "correct", "accuracy", "loss", and
// for a sparse model "auc" and "log_loss", the same as "loss"). Epochs are
// printed 1-based in both forms.
Status RunEvalCommand(const EvalOptions& options, std::ostream& out);

}  // namespace pst
