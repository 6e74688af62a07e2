#include "common/sparse_optimizer_catalog.h"

#include <algorithm>
#include <cstdio>

namespace pst {

// One entry per rule; its update loop is ps/sparse_<name>.cc.
const std::vector<SparseOptimizerDescription>& SparseOptimizerCatalog() {
  static const std::vector<SparseOptimizerDescription> rules = {
      {"sgd", "plain stochastic gradient descent: row -= lr * g", {}, {},
       {{"lr", 0.01, 0, 1e3, true, "learning rate"}}},
      {"adagrad", "Adagrad: accum += g^2; row -= lr * g / (sqrt(accum) + epsilon)",
       {"accum"}, {},
       {{"lr", 0.01, 0, 1e3, true, "learning rate"},
        {"epsilon", 1e-8, 0, 1, false, "added to the denominator"},
        {"initial_accumulator", 0.0, 0, 1e6, false, "accum of a new row"}}},
      {"ftrl", "FTRL-proximal with L1 and L2 regularisation (per coordinate)", {"z", "n"}, {},
       {{"alpha", 0.05, 0, 1e3, true, "learning rate alpha"},
        {"beta", 1.0, 0, 1e6, false, "learning-rate smoothing beta"},
        {"l1", 0.0, 0, 1e6, false, "L1 regularisation strength"},
        {"l2", 0.0, 0, 1e6, false, "L2 regularisation strength"}}},
      {"lazy_adam", "Adam on touched rows only, bias-corrected with each row's own step count", {"m", "v"}, {"t"},
       {{"lr", 0.001, 0, 1e3, true, "learning rate"},
        {"beta1", 0.9, 0, 0.999999, false, "first-moment decay"},
        {"beta2", 0.999, 0, 0.999999, false, "second-moment decay"},
        {"epsilon", 1e-8, 0, 1, false, "added to the denominator"}}},
  };
  return rules;
}

const SparseOptimizerDescription* FindSparseOptimizer(std::string_view name) {
  for (const SparseOptimizerDescription& d : SparseOptimizerCatalog())
    if (d.name == name) return &d;
  return nullptr;
}

std::string SparseOptimizerNames(std::string_view sep) {
  std::string out;
  for (const SparseOptimizerDescription& d : SparseOptimizerCatalog()) {
    if (!out.empty()) out += sep;
    out += d.name;
  }
  return out;
}

StatusOr<SparseOptimizerParams> ResolveSparseOptimizerParams(std::string_view name,
                                                             const SparseOptimizerParams& given,
                                                             const std::string& field) {
  const SparseOptimizerDescription* rule = FindSparseOptimizer(name);
  if (rule == nullptr) {
    return Status::InvalidArgument(field + ": unknown sparse optimizer '" + std::string(name) +
                                   "' (allowed: " + SparseOptimizerNames("|") + ")");
  }
  return ResolveSparseOptimizerParams(*rule, given, field);
}

StatusOr<SparseOptimizerParams> ResolveSparseOptimizerParams(const SparseOptimizerDescription& r,
                                                             const SparseOptimizerParams& given,
                                                             const std::string& field) {
  const SparseOptimizerDescription* rule = &r;
  SparseOptimizerParams values;
  for (const OptimizerParamInfo& p : rule->params) values[p.name] = p.default_value;
  for (const auto& entry : given) {
    const std::string& key = entry.first;
    const double value = entry.second;
    auto it = std::find_if(rule->params.begin(), rule->params.end(),
                           [&key](const OptimizerParamInfo& p) { return p.name == key; });
    if (it == rule->params.end()) {
      std::string known;
      for (const OptimizerParamInfo& p : rule->params) known += (known.empty() ? "" : ", ") + p.name;
      return Status::InvalidArgument(field + ": sparse optimizer " + rule->name +
                                     " takes no parameter '" + key + "' (it takes: " + known + ")");
    }
    if (!ParamInRange(*it, value)) {
      char shown[32];
      std::snprintf(shown, sizeof shown, "%g", value);
      return Status::InvalidArgument(field + ": " + rule->name + " " + key + " = " + shown +
                                     " is outside " + ParamRangeText(*it));
    }
    values[key] = value;
  }
  return values;
}

}  // namespace pst
