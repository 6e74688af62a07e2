// Dense rules "momentum" and "nesterov", which share one loop:
//   Momentum: g += wd*p; v = mu*v + g; p -= lr*v
//   Nesterov: g += wd*p; v = mu*v + g; p -= lr*(g + mu*v)
#include <memory>
#include <utility>

#include "ps/dense_optimizer.h"

namespace pst {
namespace {

PST_SIMD_CLONES void MomentumLoop(float* __restrict params, const float* __restrict grad,
                                  float scale, float* __restrict velocity, size_t n, float lr,
                                  float wd, float mu, bool nesterov) {
  if (nesterov) {
    for (size_t i = 0; i < n; ++i) {
      const float g = grad[i] * scale + wd * params[i];
      const float v = mu * velocity[i] + g;
      velocity[i] = v;
      params[i] -= lr * (g + mu * v);
    }
  } else {
    for (size_t i = 0; i < n; ++i) {
      const float g = grad[i] * scale + wd * params[i];
      const float v = mu * velocity[i] + g;
      velocity[i] = v;
      params[i] -= lr * v;
    }
  }
}

template <bool kNesterov>
class MomentumOptimizer final : public SlottedOptimizer {
 public:
  explicit MomentumOptimizer(DenseOptimizerState state) : SlottedOptimizer(std::move(state)) {}

  void ApplyScaled(float* params, const float* grad, float scale, uint64_t step) override {
    MomentumLoop(params, grad, scale, slots_[0].data(), n_, LearningRateAt(spec_, step),
                 spec_.weight_decay, spec_.momentum, kNesterov);
  }
};

}  // namespace

void RegisterDenseMomentum(DenseOptimizerFactories& registry) {
  registry
      .Register("momentum",
                [](DenseOptimizerState s) {
                  return std::make_unique<MomentumOptimizer<false>>(std::move(s));
                })
      .IgnoreError();  // built-in and catalogued; DenseOptimizerFactories' test checks
  registry
      .Register("nesterov",
                [](DenseOptimizerState s) {
                  return std::make_unique<MomentumOptimizer<true>>(std::move(s));
                })
      .IgnoreError();  // as above
}

}  // namespace pst
