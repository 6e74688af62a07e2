// Sparse rule "ftrl": FTRL-proximal (McMahan et al., "Ad Click Prediction: a
// View from the Trenches", KDD 2013, algorithm 1), per coordinate:
//   n' = n + g^2;  sigma = (sqrt(n') - sqrt(n)) / alpha;  z += g - sigma * w;  n = n'
//   w = 0                                              if |z| <= l1
//   w = -(z - sign(z) * l1) / ((beta + sqrt(n)) / alpha + l2)   otherwise
// The row holds w (so a row's initial values enter through sigma * w, as in
// TensorFlow's FTRL); state slots "z" and "n". L1 gives exact zeros.
#include <cmath>
#include <memory>
#include <utility>

#include "ps/sparse_optimizer.h"

namespace pst {
namespace {

class SparseFtrl final : public SparseRowOptimizer {
 public:
  SparseFtrl(uint32_t dim, float alpha, float beta, float l1, float l2)
      : SparseRowOptimizer(dim, 2 * size_t{dim}), alpha_(alpha), beta_(beta), l1_(l1), l2_(l2) {}
  void Apply(float* w, float* state, const float* grad, float grad_scale) const override {
    float* z = state;
    float* n = state + dim_;
    for (uint32_t i = 0; i < dim_; ++i) {
      const float g = grad[i] * grad_scale;
      const float n_new = n[i] + g * g;
      const float sqrt_n_new = std::sqrt(n_new);
      const float sigma = (sqrt_n_new - std::sqrt(n[i])) / alpha_;
      z[i] += g - sigma * w[i];
      n[i] = n_new;
      const float zi = z[i];
      w[i] = std::abs(zi) <= l1_ ? 0.0f
                                 : -(zi - std::copysign(l1_, zi)) /
                                       ((beta_ + sqrt_n_new) / alpha_ + l2_);
    }
  }

 private:
  float alpha_, beta_, l1_, l2_;
};

}  // namespace

void RegisterSparseFtrl(SparseOptimizerRegistry& registry) {
  SparseOptimizerInfo info = CataloguedSparseRule("ftrl");
  info.make = [](const SparseOptimizerParams& p, uint32_t dim) {
    return std::make_unique<SparseFtrl>(dim, float(p.at("alpha")), float(p.at("beta")),
                                        float(p.at("l1")), float(p.at("l2")));
  };
  registry.Register(std::move(info)).IgnoreError();  // built-in: name and defaults are valid
}

}  // namespace pst
