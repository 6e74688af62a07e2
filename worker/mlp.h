// A multi-layer perceptron with softmax cross-entropy loss, computed with
// OpenBLAS (cblas_sgemm). Parameters live outside the object, laid out as in
// common/model_layout.h, so the same code runs on params pulled from the PS and on
// a local copy. Not thread-safe: each thread needs its own Mlp (it owns scratch
// buffers, allocated once by Create() for an internal batch of up to 1024
// samples; larger n is processed in internal batches, so no call allocates).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/job_spec.h"
#include "common/model_layout.h"
#include "common/status.h"

namespace pst {

// Sets how many threads OpenBLAS uses in this process (n >= 1). Results can
// differ in the last bits between thread counts, so every worker and the local
// reference trainer use the same count (1 by default: data parallelism comes
// from running several workers).
void SetBlasThreads(int n);

class Mlp {
 public:
  // kInvalidArgument if the spec is invalid, kResourceExhausted if the scratch
  // buffers cannot be allocated.
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

  // Runs rows (<= chunk_rows_) samples through every layer: acts_[l] gets the
  // output of layer l, after bias and activation for hidden layers; the last
  // entry holds the output layer's X * W without its bias (the output passes add it).
  void Forward(const float* params, const float* x, size_t rows);
  // Backpropagates deltas_.back() (set by the output pass) through the layers,
  // writing (accumulate = false) or adding to the weight gradients in grad, and
  // adding the hidden layers' bias gradients.
  void Backward(const float* params, const float* x, size_t rows, bool accumulate, float* grad);

  ModelSpec spec_;
  ModelLayout layout_;
  // Every public call works in chunks of at most this many samples, so scratch
  // memory is fixed at Create() whatever n is.
  size_t chunk_rows_ = 0;
  // Scratch, chunk_rows_ x layer width each, allocated once in Create():
  // activations per layer (input excluded) and the loss gradient with respect
  // to each layer's pre-activation.
  std::vector<std::vector<float>> acts_;
  std::vector<std::vector<float>> deltas_;
};

}  // namespace pst
