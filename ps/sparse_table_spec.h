// How a job's sparse table declaration (common/table_spec.h) becomes the PS's
// SparseTableOptions.
//  - init: zeros -> zeros; uniform(seed, scale) -> uniform rows whose element
//    j is a function of (seed, id, j) (InitRow);
//  - optimizer: the table's own sparse_optimizer and parameters if it names
//    one (any rule of common/sparse_optimizer_catalog.h, e.g. ftrl); else
//    from its OptimizerSpec: sgd -> "sgd" (lr); adagrad -> "adagrad" (lr,
//    epsilon); adam -> "lazy_adam" (lr, beta1, beta2, epsilon: touched rows
//    only, per-row step count);
//  - admission, eviction and the row bound as declared.
#pragma once

#include "common/status.h"
#include "common/table_spec.h"
#include "ps/sparse_table.h"

namespace pst {

// kInvalidArgument (naming the table) for a dense table, an optimizer kind
// sparse rows do not support (momentum, nesterov, adamw), a learning-rate
// schedule other than constant, weight decay, or options SparseTable refuses.
StatusOr<SparseTableOptions> SparseTableOptionsFromSpec(const TableSpec& spec);

}  // namespace pst
