#include "worker/mlp.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <new>
#include <utility>

namespace pst {

void SetBlasThreads(int n) { openblas_set_num_threads(n < 1 ? 1 : n); }
namespace {

// Samples per internal batch: large enough for sgemm to run at full speed,
// small enough that scratch for the default model stays around 1 MiB.
constexpr size_t kMaxChunkRows = 1024;
// Scratch budget in floats (64 MiB); very wide models get fewer rows per chunk.
constexpr size_t kScratchBudgetFloats = size_t{1} << 24;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The loops below take __restrict pointers so that GCC vectorises them at -O2
// (its cheap cost model will not add runtime alias checks).

// a = f(a + bias) row by row, in place.
void AddBiasAndActivate(Activation act, const float* __restrict bias, size_t rows, size_t cols,
                        float* __restrict a) {
  switch (act) {
    case Activation::kRelu:
      for (size_t i = 0; i < rows; ++i, a += cols) {
        // std::max keeps a NaN, so a diverged model shows up as a NaN loss.
        for (size_t j = 0; j < cols; ++j) a[j] = std::max(a[j] + bias[j], 0.0f);
      }
      break;
    case Activation::kTanh:
      for (size_t i = 0; i < rows; ++i, a += cols) {
        for (size_t j = 0; j < cols; ++j) a[j] = std::tanh(a[j] + bias[j]);
      }
      break;
    case Activation::kSigmoid:
      for (size_t i = 0; i < rows; ++i, a += cols) {
        // exp overflows to inf for very negative inputs, giving exactly 0: no NaN.
        for (size_t j = 0; j < cols; ++j) a[j] = 1.0f / (1.0f + std::exp(-(a[j] + bias[j])));
      }
      break;
  }
}

// d *= f'(z), with f' written in terms of the activation output a = f(z), and
// the column sums of the result added to bias_grad (the bias gradient) in the
// same pass.
void ActivationBackward(Activation act, const float* __restrict a, size_t rows, size_t cols,
                        float* __restrict d, float* __restrict bias_grad) {
  switch (act) {
    case Activation::kRelu:
      for (size_t i = 0; i < rows; ++i, a += cols, d += cols) {
        for (size_t j = 0; j < cols; ++j) {
          const float g = a[j] > 0.0f ? d[j] : 0.0f;
          d[j] = g;
          bias_grad[j] += g;
        }
      }
      break;
    case Activation::kTanh:
      for (size_t i = 0; i < rows; ++i, a += cols, d += cols) {
        for (size_t j = 0; j < cols; ++j) {
          const float g = d[j] * (1.0f - a[j] * a[j]);
          d[j] = g;
          bias_grad[j] += g;
        }
      }
      break;
    case Activation::kSigmoid:
      for (size_t i = 0; i < rows; ++i, a += cols, d += cols) {
        for (size_t j = 0; j < cols; ++j) {
          const float g = d[j] * a[j] * (1.0f - a[j]);
          d[j] = g;
          bias_grad[j] += g;
        }
      }
      break;
  }
}

bool ValidLabel(int32_t y, size_t num_classes) {
  return y >= 0 && static_cast<size_t>(y) < num_classes;
}

// z += bias; returns max(z). One row of logits.
float AddBiasAndMax(const float* __restrict bias, size_t c, float* __restrict z) {
  float mx = -std::numeric_limits<float>::infinity();
  for (size_t j = 0; j < c; ++j) {
    z[j] += bias[j];
    mx = std::max(mx, z[j]);
  }
  return mx;
}

// Cross-entropy of one row of biased logits: log(sum_j exp(z_j)) - z_y,
// computed as max + log(sum_j exp(z_j - max)) in double so that it neither
// overflows nor loses the small losses of well-classified samples.
double RowLoss(const float* z, size_t c, float mx, int32_t y) {
  double sum = 0.0;
  for (size_t j = 0; j < c; ++j) sum += std::exp(double{z[j]} - mx);
  return double{mx} + std::log(sum) - double{z[y]};
}

// Loss of one row of biased outputs z for label y under the squared or
// logistic loss; writes d/dz into `delta` when it is not null. (The softmax
// loss has its own, fused path.)
double RowLossAndDelta(LossKind loss, const float* z, size_t c, int32_t y, float* delta) {
  double total = 0.0;
  for (size_t j = 0; j < c; ++j) {
    const double t = static_cast<int32_t>(j) == y ? 1.0 : 0.0;
    const double zj = z[j];
    if (loss == LossKind::kSquared) {
      total += 0.5 * (zj - t) * (zj - t);
      if (delta) delta[j] = static_cast<float>(zj - t);
    } else {
      // Binary cross-entropy of sigmoid(z) against t, as softplus(z) - t*z,
      // with softplus computed without overflow.
      total += std::max(zj, 0.0) + std::log1p(std::exp(-std::abs(zj))) - t * zj;
      if (delta) delta[j] = static_cast<float>(1.0 / (1.0 + std::exp(-zj)) - t);
    }
  }
  return total;
}

// Rows per block of weight tensor w for MlpHooks::block_keys (0 = all rows):
// block_keys / cols rows, merged when below min_rows (see MlpHooks). Below
// that the blocks are thin: OpenBLAS packs the other operand of every
// block's sgemm in full (the batch's deltas in the weight gradient, n x cols
// floats) and reads and writes the forward's n x cols output once per
// block, so with 1-row blocks of a 127,000-wide layer it spent half its time
// copying. Thin blocks are merged into as many equal blocks of at least
// min_rows rows as fit; blocks already that tall keep their size (the
// default model's, for one: its bits do not depend on min_rows).
size_t BlockRows(const MlpHooks& hooks, const TensorInfo& w) {
  if (hooks.block_keys == 0) return w.rows;
  const size_t rows = std::clamp<uint64_t>(hooks.block_keys / w.cols, 1, w.rows);
  if (rows >= hooks.min_block_rows || rows == w.rows) return rows;
  const size_t blocks = std::max<size_t>(1, w.rows / std::max<uint64_t>(1, hooks.min_block_rows));
  return (w.rows + blocks - 1) / blocks;
}

}  // namespace

StatusOr<Mlp> Mlp::Create(const ModelSpec& spec) {
  switch (spec.activation) {
    case Activation::kRelu:
    case Activation::kTanh:
    case Activation::kSigmoid:
      break;
    default:
      return Status::InvalidArgument("model.activation: must be relu, tanh or sigmoid, got " +
                                     std::to_string(static_cast<int>(spec.activation)));
  }
  PST_ASSIGN_OR_RETURN(ModelLayout layout, ModelLayout::FromSpec(spec));
  Mlp mlp(spec, std::move(layout));
  size_t floats_per_row = 0;
  for (size_t l = 1; l < spec.layer_sizes.size(); ++l) floats_per_row += 2 * spec.layer_sizes[l];
  mlp.chunk_rows_ = std::clamp<size_t>(kScratchBudgetFloats / floats_per_row, 1, kMaxChunkRows);
  try {
    for (size_t l = 1; l < spec.layer_sizes.size(); ++l) {
      // Not zeroed: every pass writes its scratch before reading it, and
      // pages never written (the deltas of an Mlp that only evaluates, the
      // rows beyond a small batch) then take no memory.
      mlp.acts_.push_back(std::make_unique_for_overwrite<float[]>(mlp.chunk_rows_ * spec.layer_sizes[l]));
      mlp.deltas_.push_back(std::make_unique_for_overwrite<float[]>(mlp.chunk_rows_ * spec.layer_sizes[l]));
    }
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("mlp: cannot allocate scratch buffers for " +
                                     std::to_string(mlp.chunk_rows_) + " x " +
                                     std::to_string(floats_per_row) + " floats");
  }
  return mlp;
}

Status Mlp::Forward(const float* params, const float* x, size_t rows, const MlpHooks& blocking,
                    const RangeHook* wait, const RangeHook* free) {
  const std::vector<TensorInfo>& t = layout_.tensors();
  const size_t num_layers = layout_.num_layers();
  const int n = static_cast<int>(rows);
  const float* in = x;
  for (size_t l = 0; l < num_layers; ++l) {
    const TensorInfo& w = t[2 * l];
    const TensorInfo& b = t[2 * l + 1];
    const size_t k = w.rows, m = w.cols, step = BlockRows(blocking, w);
    float* out = acts_[l].get();
    // out = sum over row blocks of in[:, r0:r0+kb] * W[r0:r0+kb, :]; beta = 0
    // on the first block, so out's old content is never read.
    for (size_t r0 = 0; r0 < k; r0 += step) {
      const size_t kb = std::min(step, k - r0);
      const uint64_t begin = w.offset + r0 * m;
      if (wait != nullptr) PST_RETURN_IF_ERROR((*wait)(begin, begin + kb * m));
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, static_cast<int>(m),
                  static_cast<int>(kb), 1.0f, in + r0, static_cast<int>(k), params + begin,
                  static_cast<int>(m), r0 == 0 ? 0.0f : 1.0f, out, static_cast<int>(m));
      // The backward pass reads no w0 (it needs no gradient for the input).
      if (free != nullptr && l == 0) PST_RETURN_IF_ERROR((*free)(begin, begin + kb * m));
    }
    // The output layer's bias is read by the output pass, right after this.
    if (wait != nullptr) PST_RETURN_IF_ERROR((*wait)(b.offset, b.offset + b.size()));
    if (l + 1 < num_layers) {
      AddBiasAndActivate(spec_.activation, params + b.offset, rows, m, out);
      if (free != nullptr) PST_RETURN_IF_ERROR((*free)(b.offset, b.offset + b.size()));
    }
    in = out;
  }
  return Status::OK();
}

Status Mlp::Backward(const float* params, const float* x, size_t rows, bool accumulate,
                     const MlpHooks& blocking, const RangeHook* ready, const RangeHook* free,
                     float* grad) {
  const std::vector<TensorInfo>& t = layout_.tensors();
  const int n = static_cast<int>(rows);
  for (size_t l = layout_.num_layers(); l-- > 0;) {
    const TensorInfo& w = t[2 * l];
    const TensorInfo& b = t[2 * l + 1];
    const size_t in = w.rows, out = w.cols, step = BlockRows(blocking, w);
    // This layer's bias gradient is complete: the output pass wrote the last
    // layer's, and the ActivationBackward of layer l + 1 this one's.
    if (ready != nullptr) PST_RETURN_IF_ERROR((*ready)(b.offset, b.offset + b.size()));
    const float* a_in = l == 0 ? x : acts_[l - 1].get();
    const float* d = deltas_[l].get();
    // dW[r0:r0+kb, :] (+)= A_in[:, r0:r0+kb]^T * delta. beta = 0 on the first
    // chunk overwrites grad, so the caller's buffer needs no zeroing pass.
    for (size_t r0 = 0; r0 < in; r0 += step) {
      const size_t kb = std::min(step, in - r0);
      const uint64_t begin = w.offset + r0 * out;
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(kb),
                  static_cast<int>(out), n, 1.0f, a_in + r0, static_cast<int>(in), d,
                  static_cast<int>(out), accumulate ? 1.0f : 0.0f, grad + begin,
                  static_cast<int>(out));
      if (ready != nullptr) PST_RETURN_IF_ERROR((*ready)(begin, begin + kb * out));
    }
    if (l == 0) break;  // the gradient with respect to the input is not needed
    float* d_prev = deltas_[l - 1].get();
    // delta_{l-1} = (delta_l * W^T) .* f'(a_{l-1}), bias gradient fused in.
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, static_cast<int>(in),
                static_cast<int>(out), 1.0f, d, static_cast<int>(out), params + w.offset,
                static_cast<int>(out), 0.0f, d_prev, static_cast<int>(in));
    if (free != nullptr) PST_RETURN_IF_ERROR((*free)(w.offset, w.offset + w.size()));
    ActivationBackward(spec_.activation, acts_[l - 1].get(), rows, in, d_prev,
                       grad + t[2 * (l - 1) + 1].offset);
  }
  return Status::OK();
}

double Mlp::ForwardBackward(const float* params, const float* x, const int32_t* labels, size_t n,
                            float* grad) {
  // Without hooks nothing can fail.
  return *ForwardBackward(params, x, labels, n, grad, MlpHooks{});
}

StatusOr<double> Mlp::ForwardBackward(const float* params, const float* x, const int32_t* labels,
                                      size_t n, float* grad, const MlpHooks& hooks) {
  const std::vector<TensorInfo>& t = layout_.tensors();
  const RangeHook* wait = hooks.wait_params ? &hooks.wait_params : nullptr;
  const RangeHook* ready = hooks.grad_ready ? &hooks.grad_ready : nullptr;
  const RangeHook* free = hooks.params_free ? &hooks.params_free : nullptr;
  if (n == 0) {
    std::fill(grad, grad + layout_.total(), 0.0f);
    if (free != nullptr) PST_RETURN_IF_ERROR((*free)(0, layout_.total()));
    if (ready == nullptr) return 0.0;
    // Same order as Backward reports them.
    for (size_t l = layout_.num_layers(); l-- > 0;) {
      const TensorInfo& w = t[2 * l];
      const TensorInfo& b = t[2 * l + 1];
      PST_RETURN_IF_ERROR((*ready)(b.offset, b.offset + b.size()));
      const size_t step = BlockRows(hooks, w);
      for (size_t r0 = 0; r0 < w.rows; r0 += step) {
        const size_t kb = std::min(step, w.rows - r0);
        PST_RETURN_IF_ERROR((*ready)(w.offset + r0 * w.cols, w.offset + (r0 + kb) * w.cols));
      }
    }
    return 0.0;
  }
  const size_t c = num_classes();
  const float* out_bias = params + t.back().offset;
  float* out_bias_grad = grad + t.back().offset;
  double loss = 0.0;
  for (size_t start = 0; start < n; start += chunk_rows_) {
    const size_t rows = std::min(chunk_rows_, n - start);
    const float* xc = x + start * num_inputs();
    // Params are waited for on first use only; gradients are final, and
    // params read for the last time, only in the last chunk.
    const bool last = n - start <= chunk_rows_;
    PST_RETURN_IF_ERROR(
        Forward(params, xc, rows, hooks, start == 0 ? wait : nullptr, last ? free : nullptr));
    if (start == 0) {
      // Bias gradients are sums accumulated by the fused passes; weight
      // gradients are overwritten by the first chunk's sgemm. Only now, once
      // every wait_params has returned (see MlpHooks::wait_params).
      for (size_t l = 0; l < layout_.num_layers(); ++l) {
        const TensorInfo& b = t[2 * l + 1];
        std::fill(grad + b.offset, grad + b.offset + b.size(), 0.0f);
      }
    }
    // Output layer: delta = softmax(z) - onehot(y), the gradient of the
    // cross-entropy with respect to the logits.
    float* z = acts_.back().get();
    float* d = deltas_.back().get();
    for (size_t i = 0; i < rows; ++i, z += c, d += c) {
      const float mx = AddBiasAndMax(out_bias, c, z);
      if (spec_.loss != LossKind::kSoftmax) {
        const int32_t y = labels[start + i];
        // An out-of-range label yields a NaN loss (see below) and no target.
        loss += ValidLabel(y, c) ? RowLossAndDelta(spec_.loss, z, c, y, d)
                                 : (RowLossAndDelta(spec_.loss, z, c, -1, d), kNaN);
        for (size_t j = 0; j < c; ++j) out_bias_grad[j] += d[j];
        continue;
      }
      double sum = 0.0;
      for (size_t j = 0; j < c; ++j) {
        const double e = std::exp(double{z[j]} - mx);
        d[j] = static_cast<float>(e);
        sum += e;
      }
      const int32_t y = labels[start + i];
      // An out-of-range label (a broken REQUIRES) must not index out of
      // bounds; it yields a NaN loss the caller can see instead.
      const bool valid = ValidLabel(y, c);
      loss += valid ? double{mx} + std::log(sum) - double{z[y]} : kNaN;
      const double inv_sum = 1.0 / sum;
      for (size_t j = 0; j < c; ++j) d[j] = static_cast<float>(d[j] * inv_sum);
      if (valid) d[y] -= 1.0f;
      for (size_t j = 0; j < c; ++j) out_bias_grad[j] += d[j];
    }
    if (last && free != nullptr) {
      const TensorInfo& ob = t.back();
      PST_RETURN_IF_ERROR((*free)(ob.offset, ob.offset + ob.size()));
    }
    PST_RETURN_IF_ERROR(Backward(params, xc, rows, /*accumulate=*/start > 0, hooks,
                                 last ? ready : nullptr, last ? free : nullptr, grad));
  }
  return loss;
}

Mlp::Evaluation Mlp::Evaluate(const float* params, const float* x, const int32_t* labels,
                              size_t n) {
  const size_t c = num_classes();
  const float* out_bias = params + layout_.tensors().back().offset;
  Evaluation e;
  for (size_t start = 0; start < n; start += chunk_rows_) {
    const size_t rows = std::min(chunk_rows_, n - start);
    // Without a wait hook Forward cannot fail.
    Forward(params, x + start * num_inputs(), rows, MlpHooks{}, nullptr, nullptr).IgnoreError();
    float* z = acts_.back().get();
    for (size_t i = 0; i < rows; ++i, z += c) {
      const float mx = AddBiasAndMax(out_bias, c, z);
      // Arg-max of z + bias (now in z); ties go to the lowest class index.
      const size_t best = static_cast<size_t>(std::max_element(z, z + c) - z);
      const int32_t y = labels[start + i];
      if (!ValidLabel(y, c)) {
        e.loss_sum += kNaN;
        continue;
      }
      e.correct += static_cast<size_t>(y) == best;
      if (spec_.loss == LossKind::kSoftmax) {
        e.loss_sum += RowLoss(z, c, mx, y);
      } else {
        e.loss_sum += RowLossAndDelta(spec_.loss, z, c, y, nullptr);
      }
    }
  }
  return e;
}

double Mlp::Loss(const float* params, const float* x, const int32_t* labels, size_t n) {
  return Evaluate(params, x, labels, n).loss_sum;
}

size_t Mlp::CountCorrect(const float* params, const float* x, const int32_t* labels, size_t n) {
  return Evaluate(params, x, labels, n).correct;
}

}  // namespace pst
