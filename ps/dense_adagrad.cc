// Dense rule "adagrad": g += wd*p; h += g*g; p -= lr*g/(sqrt(h)+eps).
#include <cmath>
#include <memory>
#include <utility>

#include "ps/dense_optimizer.h"

namespace pst {
namespace {

PST_SIMD_CLONES void AdagradLoop(float* __restrict params, const float* __restrict grad,
                                 float scale, float* __restrict accum, size_t n, float lr, float wd,
                                 float eps) {
  for (size_t i = 0; i < n; ++i) {
    const float g = grad[i] * scale + wd * params[i];
    const float h = accum[i] + g * g;
    accum[i] = h;
    params[i] -= lr * g / (std::sqrt(h) + eps);
  }
}

class AdagradOptimizer final : public SlottedOptimizer {
 public:
  explicit AdagradOptimizer(DenseOptimizerState state) : SlottedOptimizer(std::move(state)) {}

  void ApplyScaled(float* params, const float* grad, float scale, uint64_t step) override {
    AdagradLoop(params, grad, scale, slots_[0].data(), n_, LearningRateAt(spec_, step),
                spec_.weight_decay, spec_.epsilon);
  }
};

}  // namespace

void RegisterDenseAdagrad(DenseOptimizerFactories& registry) {
  registry
      .Register(
          "adagrad",
          [](DenseOptimizerState s) { return std::make_unique<AdagradOptimizer>(std::move(s)); })
      .IgnoreError();  // built-in and catalogued; DenseOptimizerFactories' test checks
}

}  // namespace pst
