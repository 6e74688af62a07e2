// Server-side optimizers. An Optimizer owns the state (momentum, moments, ...)
// for a contiguous range of n parameters and applies one update per call. Its
// state is exposed as named float slots of n values each so it can be persisted
// next to the parameters. Not thread-safe; the PS serialises calls per shard.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/job_spec.h"
#include "common/status.h"

namespace pst {

// Learning rate for 1-based optimizer step `step` under spec.schedule:
//   kConstant: lr.
//   kStep:     lr * step_gamma^floor((step-1) / step_size).
//   kCosine:   step <= warmup_steps: lr * step / warmup_steps;
//              else lr * 0.5 * (1 + cos(pi * min(1, (step - warmup) / (total - warmup)))).
float LearningRateAt(const OptimizerSpec& spec, uint64_t step);

class Optimizer {
 public:
  // Builds the rule the catalog (common/optimizer_catalog.h) names for
  // spec.kind, from its factory in ps/dense_<name>.cc (ps/dense_optimizer.h).
  // kInvalidArgument if the spec is invalid (see ValidateOptimizerSpec),
  // kResourceExhausted if the state slots cannot be allocated.
  static StatusOr<std::unique_ptr<Optimizer>> Create(const OptimizerSpec& spec, size_t n);
  virtual ~Optimizer() = default;

  // Applies update number `step` (1-based, increasing by one per call) to
  // params[0, n) given the mean gradient grad[0, n), with learning rate
  // LearningRateAt(spec, step). Rules (g = grad, wd = weight_decay):
  //   SGD:      g += wd*p; p -= lr*g
  //   Momentum: g += wd*p; v = mu*v + g; p -= lr*v
  //   Nesterov: g += wd*p; v = mu*v + g; p -= lr*(g + mu*v)
  //   Adagrad:  g += wd*p; h += g*g; p -= lr*g/(sqrt(h)+eps)
  //   Adam:     g += wd*p; m = b1*m+(1-b1)g; v = b2*v+(1-b2)g^2;
  //             p -= lr * (m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps)
  //   AdamW:    as Adam without the L2 term, then p -= lr*wd*p on the updated p
  //             (decoupled; PyTorch decays the pre-update p, a difference of lr*wd*update).
  void Apply(float* params, const float* grad, uint64_t step) {
    ApplyScaled(params, grad, 1.0f, step);
  }
  // Apply with the mean gradient grad[i] * grad_scale, each product rounded
  // to float as a separate pass would: the same bits as scaling a copy
  // first, without writing one (the PS hands in a gradient sum or a network
  // frame and 1 / samples).
  virtual void ApplyScaled(float* params, const float* grad, float grad_scale, uint64_t step) = 0;

  size_t size() const { return n_; }
  // Names of the state slots, e.g. {"m", "v"} for Adam; empty for SGD.
  virtual std::vector<std::string> SlotNames() const = 0;
  // Slot i's n floats. REQUIRES: i < SlotNames().size().
  virtual float* slot(size_t i) = 0;

 protected:
  Optimizer(OptimizerSpec spec, size_t n) : spec_(spec), n_(n) {}
  OptimizerSpec spec_;
  size_t n_;
};

}  // namespace pst
