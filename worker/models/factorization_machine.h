// Factorization machine (Rendle 2010) on hashed sparse features, and logistic
// regression as its special case without factors:
//
//   z = b + sum_j a_j d_j + sum_k w_k x_k
//         + 1/2 sum_f [ (sum_k v_kf x_k)^2 - sum_k v_kf^2 x_k^2 ]
//   p = sigmoid(z)
//
// over the sample's sparse features k (id, value x_k; all fields together) and
// its dense features d_j. Tables:
//   <name>.rows   sparse, dim 1 + num_factors: row of id = [w, v_1 .. v_F],
//                 uniform in [-init_scale, init_scale);
//   <name>.dense  dense, num_dense + 1 floats: a_1 .. a_D, then b; zeros.
// Thread-compatible (see SparseModel).
#pragma once

#include <memory>
#include <string>

#include "worker/models/sparse_model.h"

namespace pst {

struct FactorizationMachineOptions {
  // Prefix of the table names. Default: "fm".
  std::string name = "fm";
  // Dense features per sample (the batch's num_dense must match). Default: 0.
  uint32_t num_dense = 0;
  // Latent factors per id; 0 makes the model logistic regression. Default: 8.
  uint32_t num_factors = 8;
  // Half-width of the uniform initialisation of the sparse rows (0: zeros).
  // Default: 0.01.
  double init_scale = 0.01;
  // Seed of the rows' initializer (common/table_spec.h). Default: 1.
  uint64_t seed = 1;
};

class FactorizationMachine : public SparseModel {
 public:
  // kInvalidArgument for an empty name or a negative/non-finite init_scale.
  static StatusOr<std::unique_ptr<FactorizationMachine>> Create(
      const FactorizationMachineOptions& options);

  const std::vector<TableSpec>& tables() const override { return tables_; }
  StatusOr<double> ForwardBackward(const SparseBatch& batch, const ModelParams& params,
                                   ModelGrads* grads) override;
  Status Predict(const SparseBatch& batch, const ModelParams& params,
                 std::vector<float>* probabilities) override;

 private:
  explicit FactorizationMachine(const FactorizationMachineOptions& options);
  Status Check(const SparseBatch& batch, const ModelParams& params) const;
  // The logit of sample i; fills sums_[f] = sum_k v_kf x_k.
  double Logit(const SparseBatch& batch, const ModelParams& params, size_t i);

  FactorizationMachineOptions options_;
  std::vector<TableSpec> tables_;
  std::vector<double> sums_;  // scratch, num_factors
};

// Logistic regression: a FactorizationMachine without factors, tables
// "<name>.rows" (dim 1) and "<name>.dense"; name defaults to "lr" and the rows
// start at zero.
StatusOr<std::unique_ptr<FactorizationMachine>> CreateLogisticRegression(
    uint32_t num_dense, std::string name = "lr");

}  // namespace pst
