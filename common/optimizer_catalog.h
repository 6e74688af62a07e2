// What the parameter servers' update rules are, as data: each rule's name, its
// wire id, its state slots and the OptimizerSpec parameters it reads, with
// defaults, valid ranges and help. This is the half of the optimizer registry
// that checks a job before any PS sees it, so it lives in common/: the job-file
// reader, the CLI flags, the wire decoder and the scheduler use it, and none of
// them may depend on ps/ (STYLE.md rule 1). The other half, the update loops,
// is ps/dense_optimizer.h: one factory per catalogued name, each in its own
// ps/dense_<name>.cc; DenseOptimizerFactories::Builtin() refuses to start with a
// catalogued rule that has no factory or a factory that is not catalogued, and
// tests/ps/dense_optimizer_test.cc checks the two agree.
//
// Thread-safe: everything here is immutable after first use.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/job_spec.h"
#include "common/status.h"

namespace pst {

// One tunable of an update rule. Shared with the sparse row rules
// (ps/sparse_optimizer.h), which carry their values by name.
struct OptimizerParamInfo {
  std::string name;
  double default_value;
  double min;  // valid range [min, max], with either end open as flagged
  double max;
  bool min_exclusive;
  std::string help;
  bool max_exclusive = false;
};

// True if v is finite and inside p's range.
bool ParamInRange(const OptimizerParamInfo& p, double v);
// p's range as "[0, 1)", "(0, 100]", ... (shortest round-trip decimals).
std::string ParamRangeText(const OptimizerParamInfo& p);

// A dense parameter: the OptimizerSpec field that holds its value.
struct DenseOptimizerParam {
  OptimizerParamInfo info;
  float OptimizerSpec::*field;
};

struct DenseOptimizerInfo {
  // The name used in job files, flags and reports, e.g. "adamw".
  std::string name;
  // Its wire id (proto/job.capnp's OptimizerKind enumerant of the same name).
  OptimizerKind kind;
  std::string help;
  // State slots of n floats each, in storage order (checkpoint names), e.g. {"m", "v"}.
  std::vector<std::string> slots;
  // Names (from DenseOptimizerParams()) of the parameters the rule reads.
  std::vector<std::string> params;
};

// Every dense parameter (learning_rate, momentum, beta1, beta2, epsilon,
// weight_decay), with the default OptimizerSpec holds and its valid range.
const std::vector<DenseOptimizerParam>& DenseOptimizerParams();

// Every dense rule, in wire-id order.
const std::vector<DenseOptimizerInfo>& DenseOptimizers();
// nullptr if unknown.
const DenseOptimizerInfo* FindDenseOptimizer(std::string_view name);
const DenseOptimizerInfo* FindDenseOptimizer(OptimizerKind kind);
// The names joined with sep, e.g. "sgd|momentum|...|adamw".
std::string DenseOptimizerNames(std::string_view sep);

// kInvalidArgument "optimizer.<name>: must be in <range>" for the first
// parameter of spec outside its range (every parameter is checked, read by
// the rule or not, so a job file never carries a value no rule accepts), or
// "optimizer.kind: unknown value N" for a kind that is not catalogued.
Status ValidateDenseOptimizerParams(const OptimizerSpec& spec);

}  // namespace pst
