#include "common/optimizer_catalog.h"

#include <cmath>
#include <cstdio>

namespace pst {
namespace {

std::string Shortest(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

bool ParamInRange(const OptimizerParamInfo& p, double v) {
  if (!std::isfinite(v)) return false;
  if (p.min_exclusive ? v <= p.min : v < p.min) return false;
  return p.max_exclusive ? v < p.max : v <= p.max;
}

std::string ParamRangeText(const OptimizerParamInfo& p) {
  return (p.min_exclusive ? "(" : "[") + Shortest(p.min) + ", " + Shortest(p.max) +
         (p.max_exclusive ? ")" : "]");
}

const std::vector<DenseOptimizerParam>& DenseOptimizerParams() {
  static const OptimizerSpec d;
  static const std::vector<DenseOptimizerParam> params = {
      {{"learning_rate", d.learning_rate, 0, 100, true, "base learning rate"},
       &OptimizerSpec::learning_rate},
      {{"momentum", d.momentum, 0, 1, false, "velocity decay", true}, &OptimizerSpec::momentum},
      {{"beta1", d.beta1, 0, 1, false, "first-moment decay", true}, &OptimizerSpec::beta1},
      {{"beta2", d.beta2, 0, 1, false, "second-moment decay", true}, &OptimizerSpec::beta2},
      {{"epsilon", d.epsilon, 0, 1, true, "added to the denominator"}, &OptimizerSpec::epsilon},
      {{"weight_decay", d.weight_decay, 0, 1, false,
        "L2 added to the gradient, or decoupled decay (adamw)"},
       &OptimizerSpec::weight_decay},
  };
  return params;
}

// One entry per rule; its update loop is ps/dense_<file>.cc. Adding a rule:
// an entry here, an OptimizerKind enumerant (common/job_spec.h and
// proto/job.capnp), a factory file, and a README row mention.
const std::vector<DenseOptimizerInfo>& DenseOptimizers() {
  static const std::vector<DenseOptimizerInfo> rules = {
      {"sgd", OptimizerKind::kSgd, "plain SGD", {}, {"learning_rate", "weight_decay"}},
      {"momentum",
       OptimizerKind::kMomentum,
       "heavy-ball momentum",
       {"velocity"},
       {"learning_rate", "momentum", "weight_decay"}},
      {"nesterov",
       OptimizerKind::kNesterov,
       "Nesterov momentum",
       {"velocity"},
       {"learning_rate", "momentum", "weight_decay"}},
      {"adagrad",
       OptimizerKind::kAdagrad,
       "Adagrad",
       {"accum"},
       {"learning_rate", "epsilon", "weight_decay"}},
      {"adam",
       OptimizerKind::kAdam,
       "Adam with L2 in the gradient",
       {"m", "v"},
       {"learning_rate", "beta1", "beta2", "epsilon", "weight_decay"}},
      {"adamw",
       OptimizerKind::kAdamW,
       "Adam with decoupled weight decay",
       {"m", "v"},
       {"learning_rate", "beta1", "beta2", "epsilon", "weight_decay"}},
  };
  return rules;
}

const DenseOptimizerInfo* FindDenseOptimizer(std::string_view name) {
  for (const DenseOptimizerInfo& r : DenseOptimizers())
    if (r.name == name) return &r;
  return nullptr;
}

const DenseOptimizerInfo* FindDenseOptimizer(OptimizerKind kind) {
  for (const DenseOptimizerInfo& r : DenseOptimizers())
    if (r.kind == kind) return &r;
  return nullptr;
}

std::string DenseOptimizerNames(std::string_view sep) {
  std::string out;
  for (const DenseOptimizerInfo& r : DenseOptimizers()) {
    if (!out.empty()) out += sep;
    out += r.name;
  }
  return out;
}

Status ValidateDenseOptimizerParams(const OptimizerSpec& spec) {
  if (FindDenseOptimizer(spec.kind) == nullptr) {
    return Status::InvalidArgument("optimizer.kind: unknown value " +
                                   std::to_string(static_cast<int>(spec.kind)) +
                                   " (known: " + DenseOptimizerNames(", ") + ")");
  }
  for (const DenseOptimizerParam& p : DenseOptimizerParams()) {
    if (!ParamInRange(p.info, spec.*p.field)) {
      return Status::InvalidArgument("optimizer." + p.info.name + ": must be in " +
                                     ParamRangeText(p.info));
    }
  }
  return Status::OK();
}

}  // namespace pst
