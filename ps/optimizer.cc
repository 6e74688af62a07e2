#include "ps/optimizer.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <numbers>
#include <string>
#include <utility>
#include <vector>

namespace pst {
namespace {

// The largest range one optimizer may cover (the header allows n in [0, 2^32]).
constexpr uint64_t kMaxParams = uint64_t{1} << 32;

// Step 0 is outside the 1-based contract. Treating it as step 1 keeps the
// learning rate and Adam's bias corrections finite instead of writing NaN or
// inf into the parameters (1 - beta^0 == 0 would divide by zero).
uint64_t ClampStep(uint64_t step) { return std::max<uint64_t>(step, 1); }

// Owns the state slots for every optimizer kind. The slots are allocated in
// Create (where a failure can be reported) and moved in, so construction
// cannot fail.
class SlottedOptimizer : public Optimizer {
 public:
  std::vector<std::string> SlotNames() const override { return names_; }
  // Out-of-range i is a caller bug; nullptr fails fast instead of silently
  // reading past the slot table.
  float* slot(size_t i) override { return i < slots_.size() ? slots_[i].data() : nullptr; }

 protected:
  SlottedOptimizer(const OptimizerSpec& spec, size_t n, std::vector<std::string> names,
                   std::vector<std::vector<float>> slots)
      : Optimizer(spec, n), names_(std::move(names)), slots_(std::move(slots)) {}

  std::vector<std::string> names_;
  std::vector<std::vector<float>> slots_;
};

// The loops below are the PS hot path (up to ~10M floats per call). They are
// kept free of branches and of double arithmetic so the compiler can turn them
// into SIMD: every per-step scalar (learning rate, bias corrections) is computed
// once before the loop, and the kind is fixed by the subclass rather than tested
// per element. GCC 12 only vectorises them at -O3 (its -O2 cost model refuses
// loops that need an epilogue or alias checks), and the sqrt loops (Adagrad,
// Adam, AdamW) additionally need -fno-math-errno, since sqrtf may set errno.
// Without __restrict the compiler adds a runtime overlap check per call instead
// of assuming params, grad and the slots are disjoint, which the header does
// not promise.
//
// The loops live in free functions built twice, for AVX2 and for baseline
// x86-64, and the loader picks one for the CPU it runs on (GCC's
// target_clones, which cannot apply to virtual functions). Both clones do the
// same IEEE operations per element (AVX2 does not bring FMA, so nothing is
// contracted), hence the same bits; AVX2 only processes twice the lanes.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define PST_SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define PST_SIMD_CLONES
#endif

PST_SIMD_CLONES void SgdLoop(float* __restrict params, const float* __restrict grad, float scale,
                             size_t n, float lr, float wd) {
  for (size_t i = 0; i < n; ++i) {
    const float g = grad[i] * scale + wd * params[i];
    params[i] -= lr * g;
  }
}

PST_SIMD_CLONES void MomentumLoop(float* __restrict params, const float* __restrict grad,
                                  float scale, float* __restrict velocity, size_t n, float lr, float wd,
                                  float mu, bool nesterov) {
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

// Adam (decoupled = false: L2 decay wd added to the gradient) and AdamW
// (decoupled = true: the updated value shrinks by lr_wd); see AdamScalars.
PST_SIMD_CLONES void AdamLoop(float* __restrict params, const float* __restrict grad,
                              float scale, float* __restrict m, float* __restrict v, size_t n, float alpha,
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

class SgdOptimizer final : public SlottedOptimizer {
 public:
  SgdOptimizer(const OptimizerSpec& spec, size_t n, std::vector<std::vector<float>> slots)
      : SlottedOptimizer(spec, n, {}, std::move(slots)) {}

  void ApplyScaled(float* params, const float* grad, float scale, uint64_t step) override {
    SgdLoop(params, grad, scale, n_, LearningRateAt(spec_, step), spec_.weight_decay);
  }
};

class MomentumOptimizer final : public SlottedOptimizer {
 public:
  MomentumOptimizer(const OptimizerSpec& spec, size_t n, std::vector<std::vector<float>> slots)
      : SlottedOptimizer(spec, n, {"velocity"}, std::move(slots)) {}

  void ApplyScaled(float* params, const float* grad, float scale, uint64_t step) override {
    MomentumLoop(params, grad, scale, slots_[0].data(), n_, LearningRateAt(spec_, step),
                 spec_.weight_decay, spec_.momentum, /*nesterov=*/false);
  }
};

class NesterovOptimizer final : public SlottedOptimizer {
 public:
  NesterovOptimizer(const OptimizerSpec& spec, size_t n, std::vector<std::vector<float>> slots)
      : SlottedOptimizer(spec, n, {"velocity"}, std::move(slots)) {}

  void ApplyScaled(float* params, const float* grad, float scale, uint64_t step) override {
    MomentumLoop(params, grad, scale, slots_[0].data(), n_, LearningRateAt(spec_, step),
                 spec_.weight_decay, spec_.momentum, /*nesterov=*/true);
  }
};

class AdagradOptimizer final : public SlottedOptimizer {
 public:
  AdagradOptimizer(const OptimizerSpec& spec, size_t n, std::vector<std::vector<float>> slots)
      : SlottedOptimizer(spec, n, {"accum"}, std::move(slots)) {}

  void ApplyScaled(float* params, const float* grad, float scale, uint64_t step) override {
    AdagradLoop(params, grad, scale, slots_[0].data(), n_, LearningRateAt(spec_, step),
                spec_.weight_decay, spec_.epsilon);
  }
};

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
  AdamOptimizer(const OptimizerSpec& spec, size_t n, std::vector<std::vector<float>> slots)
      : SlottedOptimizer(spec, n, {"m", "v"}, std::move(slots)) {}

  void ApplyScaled(float* params, const float* grad, float scale, uint64_t step) override {
    const AdamScalars s = AdamScalarsAt(spec_, step);
    AdamLoop(params, grad, scale, slots_[0].data(), slots_[1].data(), n_, s.alpha, s.inv_sqrt_bc2,
             spec_.epsilon, spec_.beta1, spec_.beta2, spec_.weight_decay, /*lr_wd=*/0.0f,
             /*decoupled=*/false);
  }
};

class AdamWOptimizer final : public SlottedOptimizer {
 public:
  AdamWOptimizer(const OptimizerSpec& spec, size_t n, std::vector<std::vector<float>> slots)
      : SlottedOptimizer(spec, n, {"m", "v"}, std::move(slots)) {}

  void ApplyScaled(float* params, const float* grad, float scale, uint64_t step) override {
    const AdamScalars s = AdamScalarsAt(spec_, step);
    // Decoupled decay: scaled by the scheduled rate, never fed into m or v.
    AdamLoop(params, grad, scale, slots_[0].data(), slots_[1].data(), n_, s.alpha, s.inv_sqrt_bc2,
             spec_.epsilon, spec_.beta1, spec_.beta2, /*wd=*/0.0f, s.lr * spec_.weight_decay,
             /*decoupled=*/true);
  }
};

size_t SlotCount(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::kSgd:
      return 0;
    case OptimizerKind::kMomentum:
    case OptimizerKind::kNesterov:
    case OptimizerKind::kAdagrad:
      return 1;
    case OptimizerKind::kAdam:
    case OptimizerKind::kAdamW:
      return 2;
  }
  return 0;
}

// vector's constructor throws on allocation failure; that must not leave
// Create (no exceptions cross our headers), and a PS asked for more state than
// it can hold should refuse the range rather than die.
StatusOr<std::vector<std::vector<float>>> AllocateSlots(size_t count, size_t n) {
  try {
    std::vector<std::vector<float>> slots;
    slots.reserve(count);
    for (size_t i = 0; i < count; ++i) slots.emplace_back(n, 0.0f);
    return slots;
  } catch (const std::exception& e) {
    return Status::ResourceExhausted("optimizer: cannot allocate " + std::to_string(count) +
                                     " state slot(s) of " + std::to_string(n) +
                                     " floats: " + e.what());
  }
}

}  // namespace

float LearningRateAt(const OptimizerSpec& spec, uint64_t step) {
  step = ClampStep(step);
  const double lr = spec.learning_rate;
  switch (spec.schedule) {
    case LrSchedule::kConstant:
      return spec.learning_rate;
    case LrSchedule::kStep: {
      // step_size == 0 is rejected by ValidateOptimizerSpec; guard the division
      // anyway since this function is public and takes any spec.
      if (spec.step_size == 0) return spec.learning_rate;
      const uint64_t decays = (step - 1) / spec.step_size;
      return static_cast<float>(
          lr * std::pow(static_cast<double>(spec.step_gamma), static_cast<double>(decays)));
    }
    case LrSchedule::kCosine: {
      const uint64_t warmup = spec.warmup_steps;
      const uint64_t total = spec.total_steps;
      if (step <= warmup) {
        return static_cast<float>(lr * static_cast<double>(step) / static_cast<double>(warmup));
      }
      // Exactly 0 from total_steps on (also covers total <= warmup, which
      // validation rejects), rather than relying on cos(pi) rounding to -1.
      if (step >= total) return 0.0f;
      const double progress =
          static_cast<double>(step - warmup) / static_cast<double>(total - warmup);
      return static_cast<float>(lr * 0.5 * (1.0 + std::cos(std::numbers::pi * progress)));
    }
  }
  // An enumerator this build does not know (e.g. from a newer peer); Create
  // rejects such specs, so only direct callers get here.
  return spec.learning_rate;
}

StatusOr<std::unique_ptr<Optimizer>> Optimizer::Create(const OptimizerSpec& spec, size_t n) {
  PST_RETURN_IF_ERROR(ValidateOptimizerSpec(spec));
  switch (spec.schedule) {
    case LrSchedule::kConstant:
    case LrSchedule::kStep:
    case LrSchedule::kCosine:
      break;
    default:
      return Status::InvalidArgument("optimizer.schedule: unknown value " +
                                     std::to_string(static_cast<int>(spec.schedule)));
  }
  switch (spec.kind) {
    case OptimizerKind::kSgd:
    case OptimizerKind::kMomentum:
    case OptimizerKind::kNesterov:
    case OptimizerKind::kAdagrad:
    case OptimizerKind::kAdam:
    case OptimizerKind::kAdamW:
      break;
    default:
      return Status::InvalidArgument("optimizer.kind: unknown value " +
                                     std::to_string(static_cast<int>(spec.kind)));
  }
  if (static_cast<uint64_t>(n) > kMaxParams) {
    return Status::InvalidArgument("optimizer: range of " + std::to_string(n) +
                                   " parameters exceeds the maximum of 2^32");
  }

  PST_ASSIGN_OR_RETURN(std::vector<std::vector<float>> slots,
                       AllocateSlots(SlotCount(spec.kind), n));
  std::unique_ptr<Optimizer> optimizer;
  switch (spec.kind) {
    case OptimizerKind::kSgd:
      optimizer = std::make_unique<SgdOptimizer>(spec, n, std::move(slots));
      break;
    case OptimizerKind::kMomentum:
      optimizer = std::make_unique<MomentumOptimizer>(spec, n, std::move(slots));
      break;
    case OptimizerKind::kNesterov:
      optimizer = std::make_unique<NesterovOptimizer>(spec, n, std::move(slots));
      break;
    case OptimizerKind::kAdagrad:
      optimizer = std::make_unique<AdagradOptimizer>(spec, n, std::move(slots));
      break;
    case OptimizerKind::kAdam:
      optimizer = std::make_unique<AdamOptimizer>(spec, n, std::move(slots));
      break;
    case OptimizerKind::kAdamW:
      optimizer = std::make_unique<AdamWOptimizer>(spec, n, std::move(slots));
      break;
  }
  return optimizer;
}

}  // namespace pst
