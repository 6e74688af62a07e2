// A multi-layer perceptron with softmax cross-entropy loss, computed with
// OpenBLAS (cblas_sgemm). Parameters live outside the object, laid out as in
// common/model_layout.h, so the same code runs on params pulled from the PS and on
// a local copy. Not thread-safe: each thread needs its own Mlp (it owns scratch
// buffers sized for the largest batch seen).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/job_spec.h"
#include "common/model_layout.h"
#include "common/status.h"

namespace pst {

class Mlp {
 public:
  // kInvalidArgument if the spec is invalid.
  static StatusOr<Mlp> Create(const ModelSpec& spec);

  const ModelLayout& layout() const { return layout_; }
  size_t num_inputs() const { return spec_.layer_sizes.front(); }
  size_t num_classes() const { return spec_.layer_sizes.back(); }

  // Forward and backward pass over a batch of n samples.
  // params: layout().total() floats. x: n * num_inputs() floats, row-major.
  // labels: n values in [0, num_classes()).
  // grad: layout().total() floats, OVERWRITTEN with the SUM over the batch of the
  // per-sample gradients of the cross-entropy loss (not the mean: the PS divides
  // the sum of all workers' sums by the total sample count).
  // Returns the SUM of the per-sample losses. n == 0 zeroes grad and returns 0.
  double ForwardBackward(const float* params, const float* x, const int32_t* labels, size_t n,
                         float* grad);

  // Sum of per-sample cross-entropy losses (no gradient).
  double Loss(const float* params, const float* x, const int32_t* labels, size_t n);

  // Number of samples whose arg-max prediction equals the label. Works in
  // internal batches, so n may be the whole test set.
  size_t CountCorrect(const float* params, const float* x, const int32_t* labels, size_t n);

 private:
  Mlp(ModelSpec spec, ModelLayout layout) : spec_(std::move(spec)), layout_(std::move(layout)) {}

  ModelSpec spec_;
  ModelLayout layout_;
  // Scratch: activations per layer (input excluded) and their gradients.
  std::vector<std::vector<float>> acts_;
  std::vector<std::vector<float>> deltas_;
};

}  // namespace pst
