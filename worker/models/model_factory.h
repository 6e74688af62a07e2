// Builds a sparse model by name, from the settings a job file or a command
// line gives: "lr" (logistic regression), "fm" (factorization machine) or
// "dlrm" (embedding + MLP). Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "worker/models/sparse_model.h"

namespace pst {

struct SparseModelConfig {
  // "lr", "fm" or "dlrm". Default: lr.
  std::string kind = "lr";
  // The data's shape: sparse fields and dense features per sample (see
  // SparseReader::NumFields / NumDense). Defaults: 1 and 0.
  uint32_t num_fields = 1;
  uint32_t num_dense = 0;
  // fm: latent factors per id. Default: 8.
  uint32_t num_factors = 8;
  // dlrm: embedding width and hidden layer widths. Defaults: 16, {64, 32}.
  uint32_t embedding_dim = 16;
  std::vector<uint32_t> hidden = {64, 32};
  // Half-width of the sparse rows' uniform initialisation (lr always starts at
  // zero). Default: 0.01.
  double init_scale = 0.01;
  // Seed of the tables' initializers. Default: 1.
  uint64_t seed = 1;
};

// kInvalidArgument for an unknown kind (naming the accepted ones) or settings
// the model rejects.
StatusOr<std::unique_ptr<SparseModel>> CreateSparseModel(const SparseModelConfig& config);

}  // namespace pst
