// How a model's tensors map onto one flat key space of float32 parameters.
// Layer l (sizes[l] -> sizes[l+1]) owns a weight tensor "w<l>" of shape
// [sizes[l], sizes[l+1]] (row-major, so Y = X * W + b) followed by a bias "b<l>"
// of shape [sizes[l+1]]. Tensors are laid out in that order, back to back; the
// global key of a parameter is its offset in this flat array. Immutable,
// thread-safe after construction.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/job_spec.h"
#include "common/status.h"
#include "common/table_spec.h"

namespace pst {

struct TensorInfo {
  std::string name;  // "w0", "b0", "w1", ...
  uint64_t offset;   // first global key
  uint64_t rows;     // fan-in for weights, 1 for biases
  uint64_t cols;     // fan-out
  bool is_bias;
  uint64_t size() const { return rows * cols; }
};

class ModelLayout {
 public:
  // kInvalidArgument if the spec is invalid (see ValidateModelSpec).
  static StatusOr<ModelLayout> FromSpec(const ModelSpec& spec);

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  // Number of float parameters in the model.
  uint64_t total() const { return total_; }
  // Weight tensor of layer l is tensors()[2*l], its bias tensors()[2*l+1].
  size_t num_layers() const { return tensors_.size() / 2; }

 private:
  std::vector<TensorInfo> tensors_;
  uint64_t total_ = 0;
};

// The MLP's table declarations: one dense table per tensor of `layout`, in
// layout order (so the dense key space is exactly the layout's keys), each
// updated with `optimizer`. Weights start uniform in [-limit, limit) with
// seed spec.seed, limit sqrt(6 / fan_in) (He) or sqrt(6 / (fan_in + fan_out))
// (Xavier); biases start at 0.
std::vector<TableSpec> MlpTables(const ModelSpec& spec, const ModelLayout& layout,
                                 const OptimizerSpec& optimizer);
// Writes the initial values of global keys [begin, end) into out[0, end-begin):
// InitDenseKeys of MlpTables(spec, layout, ...). Each value depends only on
// (spec.seed, key), so any key range can be initialised independently and
// every shard split gives the same model.
// REQUIRES: begin <= end <= layout.total().
void InitParams(const ModelSpec& spec, const ModelLayout& layout, uint64_t begin, uint64_t end,
                float* out);

}  // namespace pst
