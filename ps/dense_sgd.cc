// Dense rule "sgd": g += wd*p; p -= lr*g (see ps/optimizer.h).
#include <memory>
#include <utility>

#include "ps/dense_optimizer.h"

namespace pst {
namespace {

PST_SIMD_CLONES void SgdLoop(float* __restrict params, const float* __restrict grad, float scale,
                             size_t n, float lr, float wd) {
  for (size_t i = 0; i < n; ++i) {
    const float g = grad[i] * scale + wd * params[i];
    params[i] -= lr * g;
  }
}

class SgdOptimizer final : public SlottedOptimizer {
 public:
  explicit SgdOptimizer(DenseOptimizerState state) : SlottedOptimizer(std::move(state)) {}

  void ApplyScaled(float* params, const float* grad, float scale, uint64_t step) override {
    SgdLoop(params, grad, scale, n_, LearningRateAt(spec_, step), spec_.weight_decay);
  }
};

}  // namespace

void RegisterDenseSgd(DenseOptimizerFactories& registry) {
  registry
      .Register("sgd",
                [](DenseOptimizerState s) { return std::make_unique<SgdOptimizer>(std::move(s)); })
      .IgnoreError();  // built-in and catalogued; DenseOptimizerFactories' test checks
}

}  // namespace pst
