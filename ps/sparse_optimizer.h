// Per-row optimizers for sparse embedding tables, and the registry that names
// them. Each rule keeps its state beside its row (SparseTable stores
// [row | state] contiguously) and is applied to the touched rows only. A rule
// lives in one file (ps/sparse_<name>.cc) that describes itself to the
// registry: its name, its state slots, and its parameters with defaults and
// valid ranges.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/optimizer_catalog.h"
#include "common/sparse_optimizer_catalog.h"
#include "common/status.h"

namespace pst {

// Which rule a table uses and its parameters (missing ones take defaults).
struct SparseOptimizerConfig {
  // A registered name: "sgd", "adagrad", "ftrl", "lazy_adam". Default: adagrad.
  std::string name = "adagrad";
  // Overrides of the rule's defaults. Default: none.
  SparseOptimizerParams params;
};

// One configured rule for rows of a fixed dim. Immutable and thread-safe: the
// per-row state is passed in, so one object serves a whole table.
class SparseRowOptimizer {
 public:
  virtual ~SparseRowOptimizer() = default;
  // Floats of state per row (slots * dim + per-row scalars).
  size_t state_floats() const { return state_floats_; }
  uint32_t dim() const { return dim_; }
  // Writes the state of a freshly created row (zeros unless the rule says otherwise).
  virtual void InitState(float* state) const;
  // One update of row[0, dim) with the gradient grad[i] * grad_scale (each
  // product rounded to float), using and updating this row's state[0, state_floats()).
  virtual void Apply(float* row, float* state, const float* grad, float grad_scale) const = 0;

 protected:
  SparseRowOptimizer(uint32_t dim, size_t state_floats) : dim_(dim), state_floats_(state_floats) {}
  uint32_t dim_;
  size_t state_floats_;
};

// Name, default, range and help of one parameter, as for the dense rules.
using SparseOptimizerParamInfo = OptimizerParamInfo;

// A rule's description (common/sparse_optimizer_catalog.h) and its factory.
struct SparseOptimizerInfo : SparseOptimizerDescription {
  // Builds the rule from a complete, validated parameter set.
  std::function<std::unique_ptr<SparseRowOptimizer>(const SparseOptimizerParams&, uint32_t dim)>
      make;
};

// Name -> rule description. Thread-compatible; Builtin() is immutable.
class SparseOptimizerRegistry {
 public:
  // sgd, adagrad, ftrl, lazy_adam (each registered by its own file).
  static const SparseOptimizerRegistry& Builtin();

  // kAlreadyExists for a taken name, kInvalidArgument for a default outside
  // its own range or a missing factory.
  Status Register(SparseOptimizerInfo info);
  // nullptr if unknown.
  const SparseOptimizerInfo* Find(std::string_view name) const;
  std::vector<std::string> Names() const;

  // Validates config against its rule and builds it. kInvalidArgument (naming
  // the rule and parameter) for an unknown rule (listing the known ones), an
  // unknown parameter, a non-finite or out-of-range value, or dim == 0.
  StatusOr<std::unique_ptr<SparseRowOptimizer>> Create(const SparseOptimizerConfig& config,
                                                       uint32_t dim) const;

 private:
  std::map<std::string, SparseOptimizerInfo, std::less<>> rules_;
};

// Each rule's file defines its registration; Builtin() calls them. (An explicit
// list rather than static initialisers: the linker drops objects of a static
// library that nothing references, and with them such initialisers.)
// The catalogue's description of `name`, without a factory (the rule's file
// adds it). REQUIRES: FindSparseOptimizer(name) != nullptr.
SparseOptimizerInfo CataloguedSparseRule(std::string_view name);

void RegisterSparseSgd(SparseOptimizerRegistry& registry);
void RegisterSparseAdagrad(SparseOptimizerRegistry& registry);
void RegisterSparseFtrl(SparseOptimizerRegistry& registry);
void RegisterSparseLazyAdam(SparseOptimizerRegistry& registry);

}  // namespace pst
