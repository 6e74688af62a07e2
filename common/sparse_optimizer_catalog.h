// What the sparse row update rules are, as data: each rule's name, help, state
// slots and parameters (defaults, valid ranges). Like common/optimizer_catalog.h
// for the dense rules, this half lives in common/ so that a job file's
// [[sparse_table]] optimizer is checked at the edge (job-file reader, wire
// decoder, scheduler) before any PS sees it; the update loops are
// ps/sparse_<name>.cc, which take their descriptions from here
// (SparseOptimizerRegistry::Builtin() registers exactly the catalogued rules).
// Thread-safe: everything here is immutable after first use.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/job_spec.h"
#include "common/optimizer_catalog.h"
#include "common/status.h"

namespace pst {

struct SparseOptimizerDescription {
  std::string name;
  std::string help;
  // State slots of dim floats each, in storage order, e.g. {"accum"}.
  std::vector<std::string> slots;
  // Per-row scalars stored after the slots (lazy Adam's step count).
  std::vector<std::string> row_scalars;
  std::vector<OptimizerParamInfo> params;
};

// sgd, adagrad, ftrl, lazy_adam.
const std::vector<SparseOptimizerDescription>& SparseOptimizerCatalog();
// nullptr if unknown.
const SparseOptimizerDescription* FindSparseOptimizer(std::string_view name);
// The names joined with sep, e.g. "sgd|adagrad|ftrl|lazy_adam".
std::string SparseOptimizerNames(std::string_view sep);

// Every parameter of rule `name`: the defaults overridden by `given`.
// kInvalidArgument, prefixed with `field` (e.g. "sparse_table 'fm.rows'"), for
// an unknown rule (listing the known ones), a parameter the rule does not take
// (listing those it takes), or a non-finite or out-of-range value.
StatusOr<SparseOptimizerParams> ResolveSparseOptimizerParams(std::string_view name,
                                                             const SparseOptimizerParams& given,
                                                             const std::string& field);
// The same against a given description (e.g. one registered by a test).
StatusOr<SparseOptimizerParams> ResolveSparseOptimizerParams(const SparseOptimizerDescription& rule,
                                                             const SparseOptimizerParams& given,
                                                             const std::string& field);

}  // namespace pst
