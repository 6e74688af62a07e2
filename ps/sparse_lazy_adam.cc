// Sparse rule "lazy_adam": Adam applied to the touched rows only, with the
// bias correction of each row's own step count t (rows untouched in a step
// keep their moments; TensorFlow's LazyAdamOptimizer decays nothing either,
// but corrects with the global step):
//   t += 1;  m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2
//   row -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + epsilon)
// State: slots "m", "v" (dim floats each) and the row scalar "t" (a uint32
// stored in the bits of one float).
#include <cmath>
#include <cstring>
#include <memory>
#include <utility>

#include "ps/sparse_optimizer.h"

namespace pst {
namespace {

class SparseLazyAdam final : public SparseRowOptimizer {
 public:
  SparseLazyAdam(uint32_t dim, float lr, float b1, float b2, float eps)
      : SparseRowOptimizer(dim, 2 * size_t{dim} + 1), lr_(lr), b1_(b1), b2_(b2), eps_(eps) {}
  void Apply(float* row, float* state, const float* grad, float grad_scale) const override {
    float* m = state;
    float* v = state + dim_;
    uint32_t t;
    std::memcpy(&t, state + 2 * size_t{dim_}, sizeof t);
    if (t != UINT32_MAX) ++t;  // saturates: by then the corrections are exactly 1
    std::memcpy(state + 2 * size_t{dim_}, &t, sizeof t);
    const float bc1 = float(1.0 - std::pow(double(b1_), double(t)));
    const float bc2 = float(1.0 - std::pow(double(b2_), double(t)));
    for (uint32_t i = 0; i < dim_; ++i) {
      const float g = grad[i] * grad_scale;
      m[i] = b1_ * m[i] + (1 - b1_) * g;
      v[i] = b2_ * v[i] + (1 - b2_) * g * g;
      row[i] -= lr_ * (m[i] / bc1) / (std::sqrt(v[i] / bc2) + eps_);
    }
  }

 private:
  float lr_, b1_, b2_, eps_;
};

}  // namespace

void RegisterSparseLazyAdam(SparseOptimizerRegistry& registry) {
  SparseOptimizerInfo info = CataloguedSparseRule("lazy_adam");
  info.make = [](const SparseOptimizerParams& p, uint32_t dim) {
    return std::make_unique<SparseLazyAdam>(dim, float(p.at("lr")), float(p.at("beta1")),
                                            float(p.at("beta2")), float(p.at("epsilon")));
  };
  registry.Register(std::move(info)).IgnoreError();  // built-in: name and defaults are valid
}

}  // namespace pst
