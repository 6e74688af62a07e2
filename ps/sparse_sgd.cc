// Sparse rule "sgd": row -= lr * g. No state.
#include <memory>
#include <utility>

#include "ps/sparse_optimizer.h"

namespace pst {
namespace {

class SparseSgd final : public SparseRowOptimizer {
 public:
  SparseSgd(uint32_t dim, float lr) : SparseRowOptimizer(dim, 0), lr_(lr) {}
  void Apply(float* row, float*, const float* grad, float grad_scale) const override {
    for (uint32_t i = 0; i < dim_; ++i) {
      const float g = grad[i] * grad_scale;
      row[i] -= lr_ * g;
    }
  }

 private:
  float lr_;
};

}  // namespace

void RegisterSparseSgd(SparseOptimizerRegistry& registry) {
  SparseOptimizerInfo info = CataloguedSparseRule("sgd");
  info.make = [](const SparseOptimizerParams& p, uint32_t dim) {
    return std::make_unique<SparseSgd>(dim, float(p.at("lr")));
  };
  registry.Register(std::move(info)).IgnoreError();  // built-in: name and defaults are valid
}

}  // namespace pst
