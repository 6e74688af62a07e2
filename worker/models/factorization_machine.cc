#include "worker/models/factorization_machine.h"

#include <cmath>

#include <fmt/format.h>

#include "common/sparse_model_tables.h"

namespace pst {

StatusOr<std::unique_ptr<FactorizationMachine>> FactorizationMachine::Create(
    const FactorizationMachineOptions& options) {
  if (options.name.empty()) return Status::InvalidArgument("factorization machine: empty name");
  if (!(options.init_scale >= 0) || !std::isfinite(options.init_scale)) {
    return Status::InvalidArgument(fmt::format(
        "factorization machine: init_scale {} is not a finite number >= 0", options.init_scale));
  }
  return std::unique_ptr<FactorizationMachine>(new FactorizationMachine(options));
}

StatusOr<std::unique_ptr<FactorizationMachine>> CreateLogisticRegression(uint32_t num_dense,
                                                                         std::string name) {
  FactorizationMachineOptions options;
  options.name = std::move(name);
  options.num_dense = num_dense;
  options.num_factors = 0;
  options.init_scale = 0.0;
  return FactorizationMachine::Create(options);
}

FactorizationMachine::FactorizationMachine(const FactorizationMachineOptions& options)
    : options_(options), sums_(options.num_factors) {
  tables_ = FmTables(options.name, options.num_dense, options.num_factors, options.init_scale,
                     options.seed);
}

Status FactorizationMachine::Check(const SparseBatch& batch, const ModelParams& params) const {
  if (batch.num_dense != options_.num_dense) {
    return Status::InvalidArgument(fmt::format("{}: batch has {} dense features, model {}",
                                               options_.name, batch.num_dense, options_.num_dense));
  }
  return CheckModelParams(tables_, batch, params);
}

double FactorizationMachine::Logit(const SparseBatch& batch, const ModelParams& params, size_t i) {
  const uint32_t dim = 1 + options_.num_factors;
  const float* dense = params.dense[0];
  double z = dense[options_.num_dense];
  const float* d = batch.dense_row(i);
  for (uint32_t j = 0; j < options_.num_dense; ++j) z += double{dense[j]} * d[j];
  std::fill(sums_.begin(), sums_.end(), 0.0);
  double squares = 0;
  const uint32_t* slot = params.sparse[0].ids->slot.data();
  for (uint32_t k = batch.cell_begin(i, 0); k < batch.cell_begin(i + 1, 0); ++k) {
    const float* row = params.sparse[0].rows + size_t{slot[k]} * dim;
    const double x = batch.values[k];
    z += row[0] * x;
    for (uint32_t f = 0; f < options_.num_factors; ++f) {
      const double vx = row[1 + f] * x;
      sums_[f] += vx;
      squares += vx * vx;
    }
  }
  for (double s : sums_) z += 0.5 * s * s;
  return z - 0.5 * squares;
}

StatusOr<double> FactorizationMachine::ForwardBackward(const SparseBatch& batch,
                                                       const ModelParams& params,
                                                       ModelGrads* grads) {
  PST_RETURN_IF_ERROR(Check(batch, params));
  ZeroModelGrads(tables_, params, grads);
  const uint32_t dim = 1 + options_.num_factors;
  const uint32_t* slot = params.sparse[0].ids->slot.data();
  float* grad_dense = grads->dense[0].data();
  double loss = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    const double z = Logit(batch, params, i);
    loss += LogisticLoss(z, batch.labels[i]);
    const double g = Sigmoid(z) - batch.labels[i];
    grad_dense[options_.num_dense] += static_cast<float>(g);
    const float* d = batch.dense_row(i);
    for (uint32_t j = 0; j < options_.num_dense; ++j) grad_dense[j] += static_cast<float>(g * d[j]);
    for (uint32_t k = batch.cell_begin(i, 0); k < batch.cell_begin(i + 1, 0); ++k) {
      const float* row = params.sparse[0].rows + size_t{slot[k]} * dim;
      float* grad = grads->sparse[0].data() + size_t{slot[k]} * dim;
      const double x = batch.values[k];
      grad[0] += static_cast<float>(g * x);
      // d z / d v_kf = x_k (sum_k' v_k'f x_k' - v_kf x_k)
      for (uint32_t f = 0; f < options_.num_factors; ++f) {
        grad[1 + f] += static_cast<float>(g * x * (sums_[f] - row[1 + f] * x));
      }
    }
  }
  return loss;
}

Status FactorizationMachine::Predict(const SparseBatch& batch, const ModelParams& params,
                                     std::vector<float>* probabilities) {
  PST_RETURN_IF_ERROR(Check(batch, params));
  probabilities->resize(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    (*probabilities)[i] = static_cast<float>(Sigmoid(Logit(batch, params, i)));
  }
  return Status::OK();
}

}  // namespace pst
