// Dense rules "adam" and "adamw", which share one loop (g = mean gradient):
//   Adam:  g += wd*p; m = b1*m+(1-b1)g; v = b2*v+(1-b2)g^2;
//          p -= lr * (m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps)
//   AdamW: as Adam without the L2 term, then p -= lr*wd*p on the updated p.
#include <cmath>
#include <memory>
#include <utility>

#include "ps/dense_optimizer.h"

namespace pst {
namespace {

// Adam (decoupled = false: L2 decay wd added to the gradient) and AdamW
// (decoupled = true: the updated value shrinks by lr_wd); see AdamScalars.
PST_SIMD_CLONES void AdamLoop(float* __restrict params, const float* __restrict grad, float scale,
                              float* __restrict m, float* __restrict v, size_t n, float alpha,
                              float inv_sqrt_bc2, float eps, float b1, float b2, float wd,
                              float lr_wd, bool decoupled) {
  const float one_minus_b1 = 1.0f - b1;
  const float one_minus_b2 = 1.0f - b2;
  if (decoupled) {
    for (size_t i = 0; i < n; ++i) {
      const float g = grad[i] * scale;
      const float mi = b1 * m[i] + one_minus_b1 * g;
      const float vi = b2 * v[i] + one_minus_b2 * g * g;
      m[i] = mi;
      v[i] = vi;
      // The header orders the decay after the Adam step, so it shrinks the
      // already-updated value.
      const float p = params[i] - alpha * mi / (std::sqrt(vi) * inv_sqrt_bc2 + eps);
      params[i] = p - lr_wd * p;
    }
  } else {
    for (size_t i = 0; i < n; ++i) {
      const float g = grad[i] * scale + wd * params[i];
      const float mi = b1 * m[i] + one_minus_b1 * g;
      const float vi = b2 * v[i] + one_minus_b2 * g * g;
      m[i] = mi;
      v[i] = vi;
      params[i] -= alpha * mi / (std::sqrt(vi) * inv_sqrt_bc2 + eps);
    }
  }
}

// Per-step scalars shared by Adam and AdamW. The header's update
//   p -= lr * (m / bc1) / (sqrt(v / bc2) + eps)
// is evaluated as p -= alpha * m / (sqrt(v) * inv_sqrt_bc2 + eps) with
// alpha = lr / bc1 and inv_sqrt_bc2 = 1 / sqrt(bc2), which is the same value
// with two divisions per element moved out of the loop. The corrections are
// computed in double because 1 - beta^t cancels badly in float for beta2 near 1.
struct AdamScalars {
  float lr;
  float alpha;
  float inv_sqrt_bc2;
};

AdamScalars AdamScalarsAt(const OptimizerSpec& spec, uint64_t step) {
  const double t = static_cast<double>(ClampStep(step));
  const double bc1 = 1.0 - std::pow(static_cast<double>(spec.beta1), t);
  const double bc2 = 1.0 - std::pow(static_cast<double>(spec.beta2), t);
  const float lr = LearningRateAt(spec, step);
  return {lr, static_cast<float>(lr / bc1), static_cast<float>(1.0 / std::sqrt(bc2))};
}

class AdamOptimizer final : public SlottedOptimizer {
 public:
  explicit AdamOptimizer(DenseOptimizerState state) : SlottedOptimizer(std::move(state)) {}

  void ApplyScaled(float* params, const float* grad, float scale, uint64_t step) override {
    const AdamScalars s = AdamScalarsAt(spec_, step);
    AdamLoop(params, grad, scale, slots_[0].data(), slots_[1].data(), n_, s.alpha, s.inv_sqrt_bc2,
             spec_.epsilon, spec_.beta1, spec_.beta2, spec_.weight_decay, /*lr_wd=*/0.0f,
             /*decoupled=*/false);
  }
};

class AdamWOptimizer final : public SlottedOptimizer {
 public:
  explicit AdamWOptimizer(DenseOptimizerState state) : SlottedOptimizer(std::move(state)) {}

  void ApplyScaled(float* params, const float* grad, float scale, uint64_t step) override {
    const AdamScalars s = AdamScalarsAt(spec_, step);
    // Decoupled decay: scaled by the scheduled rate, never fed into m or v.
    AdamLoop(params, grad, scale, slots_[0].data(), slots_[1].data(), n_, s.alpha, s.inv_sqrt_bc2,
             spec_.epsilon, spec_.beta1, spec_.beta2, /*wd=*/0.0f, s.lr * spec_.weight_decay,
             /*decoupled=*/true);
  }
};

}  // namespace

void RegisterDenseAdam(DenseOptimizerFactories& registry) {
  registry
      .Register("adam",
                [](DenseOptimizerState s) { return std::make_unique<AdamOptimizer>(std::move(s)); })
      .IgnoreError();  // built-in and catalogued; DenseOptimizerFactories' test checks
  registry
      .Register(
          "adamw",
          [](DenseOptimizerState s) { return std::make_unique<AdamWOptimizer>(std::move(s)); })
      .IgnoreError();  // as above
}

}  // namespace pst
