// Sparse rule "adagrad": accum += g^2; row -= lr * g / (sqrt(accum) + epsilon).
// State: slot "accum" (dim floats), starting at initial_accumulator.
#include <algorithm>
#include <cmath>
#include <memory>
#include <utility>

#include "ps/sparse_optimizer.h"

namespace pst {
namespace {

class SparseAdagrad final : public SparseRowOptimizer {
 public:
  SparseAdagrad(uint32_t dim, float lr, float eps, float init_accum)
      : SparseRowOptimizer(dim, dim), lr_(lr), eps_(eps), init_accum_(init_accum) {}
  void InitState(float* state) const override { std::fill(state, state + dim_, init_accum_); }
  void Apply(float* row, float* accum, const float* grad, float grad_scale) const override {
    for (uint32_t i = 0; i < dim_; ++i) {
      const float g = grad[i] * grad_scale;
      accum[i] += g * g;
      row[i] -= lr_ * g / (std::sqrt(accum[i]) + eps_);
    }
  }

 private:
  float lr_, eps_, init_accum_;
};

}  // namespace

void RegisterSparseAdagrad(SparseOptimizerRegistry& registry) {
  SparseOptimizerInfo info = CataloguedSparseRule("adagrad");
  info.make = [](const SparseOptimizerParams& p, uint32_t dim) {
    return std::make_unique<SparseAdagrad>(dim, float(p.at("lr")), float(p.at("epsilon")),
                                           float(p.at("initial_accumulator")));
  };
  registry.Register(std::move(info)).IgnoreError();  // built-in: name and defaults are valid
}

}  // namespace pst
