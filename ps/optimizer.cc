#include "ps/optimizer.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <numbers>
#include <string>
#include <utility>
#include <vector>

#include "common/optimizer_catalog.h"
#include "ps/dense_optimizer.h"

namespace pst {
namespace {

// The largest range one optimizer may cover (the header allows n in [0, 2^32]).
constexpr uint64_t kMaxParams = uint64_t{1} << 32;

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
  // ValidateOptimizerSpec has checked the kind against the catalog.
  const DenseOptimizerInfo* rule = FindDenseOptimizer(spec.kind);
  const DenseOptimizerFactory* make =
      rule == nullptr ? nullptr : DenseOptimizerFactories::Builtin().Find(rule->name);
  if (make == nullptr) {
    return Status::Internal("optimizer.kind: " + std::string(OptimizerKindName(spec.kind)) +
                            " has no update rule in this build");
  }
  if (static_cast<uint64_t>(n) > kMaxParams) {
    return Status::InvalidArgument("optimizer: range of " + std::to_string(n) +
                                   " parameters exceeds the maximum of 2^32");
  }

  PST_ASSIGN_OR_RETURN(std::vector<std::vector<float>> slots,
                       AllocateSlots(rule->slots.size(), n));
  return (*make)(DenseOptimizerState{spec, n, rule->slots, std::move(slots)});
}

}  // namespace pst
