// A straightforward single-process trainer of the sparse models (logistic
// regression, factorization machine, embedding + MLP) on libsvm / Criteo-style
// files: the quality baseline a distributed run of the same model, data, split
// and hyper-parameters must match (within 0.005 test AUC).
//
// What it does, deliberately plainly: each sparse table's rows live in a hash
// map, created on first touch with the PS's initial values (ps/sparse_row_init.h
// InitRow from the table's seed and scale), the dense tables start as the PS
// starts them (common/table_spec.h InitDenseKeys); each batch's unique ids are
// looked up, the model computes the summed gradients, and Adagrad (per element:
// h += g^2, w -= lr g / (sqrt(h) + 1e-8), g = summed gradient / batch size, h
// starts at 0; the PS's "adagrad" rule with its defaults) updates the touched
// rows and the dense tables. Test AUC and log-loss after every epoch; unseen
// test ids read their initial rows without being created.
// Single-threaded; not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "worker/data/sparse_reader.h"
#include "worker/models/model_factory.h"

namespace pst::bench {

struct CtrReferenceOptions {
  // libsvm (or criteo) train and test files. Required.
  std::string train_path;
  std::string test_path;
  // Reader format and options of both files.
  SparseReaderOptions reader;
  // The model: kind "lr", "fm" or "dlrm" and its settings; num_fields and
  // num_dense are taken from the reader options.
  SparseModelConfig model;
  // Samples per step, epochs over the train file, Adagrad learning rate.
  // Defaults: 256, 5, 0.05.
  uint32_t batch_size = 256;
  uint32_t epochs = 5;
  float learning_rate = 0.05f;
};

struct CtrEpochResult {
  uint32_t epoch = 0;
  double train_log_loss = 0;  // mean over the epoch's samples, before each step's update
  double test_auc = 0;
  double test_log_loss = 0;
  uint64_t rows = 0;          // sparse rows created so far
  double seconds = 0;         // wall time of the epoch's training pass
  // Malformed lines skipped in this epoch's train and test passes (only with
  // reader.skip_bad_lines), and the last one's error.
  uint64_t bad_lines = 0;
  std::string last_bad_line;
};

// Trains and calls on_epoch after every epoch's evaluation. Returns the results
// of all epochs. kInvalidArgument for bad options, the readers' errors (file
// and line) for bad data.
StatusOr<std::vector<CtrEpochResult>> TrainCtrReference(
    const CtrReferenceOptions& options,
    const std::function<void(const CtrEpochResult&)>& on_epoch = {});

}  // namespace pst::bench
