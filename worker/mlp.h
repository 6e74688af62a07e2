// A multi-layer perceptron with a softmax cross-entropy, squared or logistic
// loss (ModelSpec::loss), computed with
// OpenBLAS (cblas_sgemm). Parameters live outside the object, laid out as in
// common/model_layout.h, so the same code runs on params pulled from the PS and on
// a local copy. Not thread-safe: each thread needs its own Mlp (it owns scratch
// buffers, allocated once by Create() for an internal batch of up to 1024
// samples and touched only as passes use them; larger n is processed in
// internal batches, so no call allocates).
// MlpHooks callbacks run on the thread that called ForwardBackward.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "common/job_spec.h"
#include "common/model_layout.h"
#include "common/status.h"
#include "worker/model.h"

namespace pst {

// Sets how many threads OpenBLAS uses in this process (n >= 1). Results can
// differ in the last bits between thread counts, so every worker and the local
// reference trainer use the same count (1 by default: data parallelism comes
// from running several workers).
void SetBlasThreads(int n);

// The default MlpHooks::min_block_rows: on this project's machines a row
// block of 256 inputs or more runs a 64 x 784 x 127,000 layer's forward and
// weight gradient within a few percent of one whole-layer sgemm; 128 rows
// cost 12% more in the gradient, 64 rows 30%, 1 row 15x.
inline constexpr uint64_t kMinBlockRows = 256;

// Lets a caller overlap parameter and gradient transfers with a
// ForwardBackward pass (as BytePS does): the pass says which params it is about
// to read and which gradients are done. All members are optional; key ranges
// are global keys [begin, end) as in common/model_layout.h.
struct MlpHooks {
  // Weight tensors are processed in blocks of whole rows of about this many
  // keys each: r = max(1, block_keys / cols) rows, the last block of a tensor
  // possibly shorter. Bias tensors are never split. Smaller blocks let
  // transfers start earlier but cost more sgemm calls; results differ from
  // whole-tensor blocks only by float rounding and are deterministic for a
  // given block_keys. Default: 0 (whole tensors, the same bits as the plain
  // ForwardBackward).
  uint64_t block_keys = 0;
  // The compute unit is not the transfer unit: when r is below this (a wide
  // layer, whose rows exceed block_keys), the tensor is cut instead into
  // max(1, rows / min_block_rows) blocks of equal height (ceil(rows / that),
  // the last possibly shorter), so each sgemm is tall enough for OpenBLAS to
  // amortise packing its other operand. The hooks then report these larger
  // ranges; a caller that transfers in block_keys units waits for (or sends)
  // every transfer block a range covers. Tensors with r >= min_block_rows
  // keep r, whatever this is. Default: kMinBlockRows.
  uint64_t min_block_rows = kMinBlockRows;
  // Called before the pass first reads params[begin, end); must return once
  // those values are in place. The pass reads no param it has not waited for,
  // so params outside the waited ranges may still be written by another
  // thread. Called once per range, in the forward order: the row blocks of
  // w0 in increasing key order, then b0, then the row blocks of w1, b1, and so
  // on. The pass writes nothing into grad before the last of these calls has
  // returned (with n > 0), so a caller may keep sending the previous pass's
  // gradient from the same buffer until its waits say that has arrived.
  // A non-OK status aborts the pass and is returned by ForwardBackward.
  std::function<Status(uint64_t begin, uint64_t end)> wait_params;
  // Called once grad[begin, end) holds its final value for this batch. The
  // pass never touches that range again, so the hook may hand it to another
  // thread (e.g. start a push) and return at once. Called once per range, in
  // the backward order: the last layer first, down to layer 0; within a layer
  // the bias first, then the weight row blocks in increasing key order. The
  // ranges reported over a pass are disjoint and cover [0, layout().total()).
  // A non-OK status aborts the pass and is returned by ForwardBackward.
  std::function<Status(uint64_t begin, uint64_t end)> grad_ready;
  // Called once the pass reads params[begin, end) no more (see
  // ModelHooks::params_free): the row blocks of w0 as the forward pass has
  // applied them (the backward pass reads no w0), each hidden layer's bias
  // once applied, the output bias after the output pass, and w1, w2, ...
  // after the backward pass has propagated through them. With n == 0, once
  // for every key. The ranges reported over a pass are disjoint and cover
  // [0, layout().total()). A non-OK status aborts the pass and is returned
  // by ForwardBackward.
  std::function<Status(uint64_t begin, uint64_t end)> params_free;
};

class Mlp : public Model {
 public:
  // kInvalidArgument if the spec is invalid, kResourceExhausted if the scratch
  // buffers cannot be allocated.
  static StatusOr<Mlp> Create(const ModelSpec& spec);

  const ModelLayout& layout() const { return layout_; }

  // Model: one dense table per tensor (MlpTables, common/model_layout.h).
  std::vector<TableSpec> Tables(const OptimizerSpec& optimizer) const override {
    return MlpTables(spec_, layout_, optimizer);
  }
  uint64_t num_keys() const override { return layout_.total(); }
  size_t num_inputs() const override { return spec_.layer_sizes.front(); }
  size_t num_classes() const override { return spec_.layer_sizes.back(); }
  // ForwardBackward with MlpHooks of the same block_keys and callbacks
  // (min_block_rows at its default).
  StatusOr<double> ComputeGradients(const float* params, const Batch& batch, float* grad,
                                    const ModelHooks& hooks) override {
    MlpHooks mlp_hooks;
    mlp_hooks.block_keys = hooks.block_keys;
    mlp_hooks.wait_params = hooks.wait_params;
    mlp_hooks.grad_ready = hooks.grad_ready;
    mlp_hooks.params_free = hooks.params_free;
    return ForwardBackward(params, batch.x, batch.labels, batch.n, grad, mlp_hooks);
  }
  ModelEvaluation Evaluate(const float* params, const Batch& batch) override {
    return Evaluate(params, batch.x, batch.labels, batch.n);
  }

  // Forward and backward pass over a batch of n samples.
  // params: layout().total() floats. x: n * num_inputs() floats, row-major.
  // labels: n values in [0, num_classes()).
  // grad: layout().total() floats, OVERWRITTEN with the SUM over the batch of the
  // per-sample gradients of the cross-entropy loss (not the mean: the PS divides
  // the sum of all workers' sums by the total sample count).
  // Returns the SUM of the per-sample losses. n == 0 zeroes grad and returns 0.
  // Same bits as ForwardBackward(params, x, labels, n, grad, MlpHooks{}).
  double ForwardBackward(const float* params, const float* x, const int32_t* labels, size_t n,
                         float* grad);

  // ForwardBackward with hooks, for overlapping transfers with the pass (see
  // MlpHooks for the order of the calls). When n spans several internal
  // batches, wait_params is called only during the first one and grad_ready
  // only during the last one, so each range is still reported once. With
  // n == 0, grad is zeroed and every range is reported to grad_ready (no
  // param is read, so wait_params is not called).
  // Returns the loss as ForwardBackward does, or the first non-OK status a
  // hook returned; then the pass stops at once and grad is partly written.
  // REQUIRES: the hooks do not throw.
  StatusOr<double> ForwardBackward(const float* params, const float* x, const int32_t* labels,
                                   size_t n, float* grad, const MlpHooks& hooks);

  // Both measures of a test set from one forward pass (no gradient), in
  // internal batches, so n may be the whole test set.
  using Evaluation = ModelEvaluation;
  Evaluation Evaluate(const float* params, const float* x, const int32_t* labels, size_t n);
  // Evaluate(...).loss_sum.
  double Loss(const float* params, const float* x, const int32_t* labels, size_t n);
  // Evaluate(...).correct.
  size_t CountCorrect(const float* params, const float* x, const int32_t* labels, size_t n);

 private:
  Mlp(ModelSpec spec, ModelLayout layout) : spec_(std::move(spec)), layout_(std::move(layout)) {}

  using RangeHook = std::function<Status(uint64_t begin, uint64_t end)>;

  // Runs rows (<= chunk_rows_) samples through every layer: acts_[l] gets the
  // output of layer l, after bias and activation for hidden layers; the last
  // entry holds the output layer's X * W without its bias (the output passes add it).
  // Weights are applied in the row blocks `blocking` asks for (see MlpHooks;
  // its callbacks are not used); wait, if
  // not null, is called before each block and bias is read; free, if not
  // null, after each block of w0 and each hidden bias has been applied.
  // Fails only with wait's or free's status.
  Status Forward(const float* params, const float* x, size_t rows, const MlpHooks& blocking,
                 const RangeHook* wait, const RangeHook* free);
  // Backpropagates deltas_.back() (set by the output pass) through the layers,
  // writing (accumulate = false) or adding to the weight gradients in grad (in
  // the row blocks of `blocking`), and adding the hidden layers' bias gradients.
  // ready, if not null, is called for each range once it is written (only
  // final on the last internal batch); free, if not null, for w1, w2, ...
  // once propagated through. Fails only with ready's or free's status.
  Status Backward(const float* params, const float* x, size_t rows, bool accumulate,
                  const MlpHooks& blocking, const RangeHook* ready, const RangeHook* free,
                  float* grad);

  ModelSpec spec_;
  ModelLayout layout_;
  // Every public call works in chunks of at most this many samples, so scratch
  // memory is fixed at Create() whatever n is.
  size_t chunk_rows_ = 0;
  // Scratch, chunk_rows_ x layer width each, allocated once in Create():
  // activations per layer (input excluded) and the loss gradient with respect
  // to each layer's pre-activation.
  std::vector<std::unique_ptr<float[]>> acts_;
  std::vector<std::unique_ptr<float[]>> deltas_;
};

}  // namespace pst
