#include "ps/dense_optimizer.h"

#include "common/optimizer_catalog.h"

namespace pst {

const DenseOptimizerFactories& DenseOptimizerFactories::Builtin() {
  static const DenseOptimizerFactories registry = [] {
    DenseOptimizerFactories r;
    RegisterDenseSgd(r);
    RegisterDenseMomentum(r);
    RegisterDenseAdagrad(r);
    RegisterDenseAdam(r);
    return r;
  }();
  return registry;
}

Status DenseOptimizerFactories::Register(std::string name, DenseOptimizerFactory make) {
  if (FindDenseOptimizer(name) == nullptr) {
    return Status::NotFound("dense optimizer " + name +
                            " is not in common/optimizer_catalog.cc (describe it there first)");
  }
  if (!make) return Status::InvalidArgument("dense optimizer " + name + ": no factory");
  if (factories_.count(name)) {
    return Status::AlreadyExists("dense optimizer " + name + " already has a factory");
  }
  factories_.emplace(std::move(name), std::move(make));
  return Status::OK();
}

const DenseOptimizerFactory* DenseOptimizerFactories::Find(std::string_view name) const {
  auto it = factories_.find(name);
  return it == factories_.end() ? nullptr : &it->second;
}

std::vector<std::string> DenseOptimizerFactories::Names() const {
  std::vector<std::string> names;
  for (const auto& [name, make] : factories_) names.push_back(name);
  return names;
}

}  // namespace pst
