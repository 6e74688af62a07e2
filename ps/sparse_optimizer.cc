#include "ps/sparse_optimizer.h"

#include <algorithm>
#include <utility>

namespace pst {

void SparseRowOptimizer::InitState(float* state) const {
  std::fill(state, state + state_floats_, 0.0f);
}

SparseOptimizerInfo CataloguedSparseRule(std::string_view name) {
  SparseOptimizerInfo info;
  static_cast<SparseOptimizerDescription&>(info) = *FindSparseOptimizer(name);
  return info;
}

const SparseOptimizerRegistry& SparseOptimizerRegistry::Builtin() {
  static const SparseOptimizerRegistry registry = [] {
    SparseOptimizerRegistry r;
    RegisterSparseSgd(r);
    RegisterSparseAdagrad(r);
    RegisterSparseFtrl(r);
    RegisterSparseLazyAdam(r);
    return r;
  }();
  return registry;
}

Status SparseOptimizerRegistry::Register(SparseOptimizerInfo info) {
  if (!info.make) return Status::InvalidArgument("sparse optimizer " + info.name + ": no factory");
  for (const SparseOptimizerParamInfo& p : info.params) {
    if (!ParamInRange(p, p.default_value)) {
      return Status::InvalidArgument("sparse optimizer " + info.name + ": default of " + p.name +
                                     " outside " + ParamRangeText(p));
    }
  }
  if (rules_.count(info.name)) {
    return Status::AlreadyExists("sparse optimizer " + info.name + " is already registered");
  }
  std::string name = info.name;
  rules_.emplace(std::move(name), std::move(info));
  return Status::OK();
}

const SparseOptimizerInfo* SparseOptimizerRegistry::Find(std::string_view name) const {
  auto it = rules_.find(name);
  return it == rules_.end() ? nullptr : &it->second;
}

std::vector<std::string> SparseOptimizerRegistry::Names() const {
  std::vector<std::string> names;
  for (const auto& [name, info] : rules_) names.push_back(name);
  return names;
}

StatusOr<std::unique_ptr<SparseRowOptimizer>> SparseOptimizerRegistry::Create(
    const SparseOptimizerConfig& config, uint32_t dim) const {
  const SparseOptimizerInfo* info = Find(config.name);
  if (info == nullptr) {
    std::string known;
    for (const std::string& n : Names()) known += (known.empty() ? "" : ", ") + n;
    return Status::InvalidArgument("unknown sparse optimizer \"" + config.name +
                                   "\" (known: " + known + ")");
  }
  if (dim == 0) return Status::InvalidArgument("sparse optimizer " + info->name + ": dim is 0");
  PST_ASSIGN_OR_RETURN(SparseOptimizerParams values,
                       ResolveSparseOptimizerParams(*info, config.params,
                                                    "sparse optimizer " + info->name));
  return info->make(values, dim);
}

}  // namespace pst
