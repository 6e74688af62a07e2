#include "ps/sparse_table_spec.h"

#include <string>

namespace pst {

StatusOr<SparseTableOptions> SparseTableOptionsFromSpec(const TableSpec& spec) {
  const std::string who = "sparse table '" + spec.name + "': ";
  if (spec.kind != TableKind::kSparse) return Status::InvalidArgument(who + "is not sparse");
  SparseTableOptions o;
  o.name = spec.name;
  o.dim = spec.dim;
  o.init.kind = spec.init.kind == TableInitKind::kZeros ? RowInitKind::kZeros
                                                        : RowInitKind::kUniform;
  o.init.seed = spec.init.seed;
  o.init.scale = float(spec.init.scale);
  o.admit_after = spec.admit_after;
  o.evict_after_steps = spec.evict_after_steps;
  o.max_rows = spec.max_rows;
  if (!spec.sparse_optimizer.empty()) {
    o.optimizer = {spec.sparse_optimizer, spec.sparse_optimizer_params};
    PST_RETURN_IF_ERROR(ValidateSparseTableOptions(o).WithContext("sparse table '" + spec.name + "'"));
    return o;
  }
  const OptimizerSpec& opt = spec.optimizer;
  if (opt.schedule != LrSchedule::kConstant || opt.weight_decay != 0) {
    return Status::InvalidArgument(who + "sparse rows take a constant learning rate and no "
                                         "weight decay");
  }
  switch (opt.kind) {
    case OptimizerKind::kSgd:
      o.optimizer = {"sgd", {{"lr", opt.learning_rate}}};
      break;
    case OptimizerKind::kAdagrad:
      o.optimizer = {"adagrad", {{"lr", opt.learning_rate}, {"epsilon", opt.epsilon}}};
      break;
    case OptimizerKind::kAdam:
      o.optimizer = {"lazy_adam",
                     {{"lr", opt.learning_rate},
                      {"beta1", opt.beta1},
                      {"beta2", opt.beta2},
                      {"epsilon", opt.epsilon}}};
      break;
    default:
      return Status::InvalidArgument(who + "optimizer " + OptimizerKindName(opt.kind) +
                                     " is not available for sparse rows (sgd, adagrad, adam)");
  }
  PST_RETURN_IF_ERROR(ValidateSparseTableOptions(o));
  return o;
}

}  // namespace pst
