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
      mlp.acts_.emplace_back(mlp.chunk_rows_ * spec.layer_sizes[l]);
      mlp.deltas_.emplace_back(mlp.chunk_rows_ * spec.layer_sizes[l]);
    }
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("mlp: cannot allocate scratch buffers for " +
                                     std::to_string(mlp.chunk_rows_) + " x " +
                                     std::to_string(floats_per_row) + " floats");
  }
  return mlp;
}

void Mlp::Forward(const float* params, const float* x, size_t rows) {
  const std::vector<TensorInfo>& t = layout_.tensors();
  const size_t num_layers = layout_.num_layers();
  const float* in = x;
  for (size_t l = 0; l < num_layers; ++l) {
    const TensorInfo& w = t[2 * l];
    const int k = static_cast<int>(w.rows), m = static_cast<int>(w.cols);
    float* out = acts_[l].data();
    // out = in * W, with beta = 0 so out's old content is never read.
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(rows), m, k, 1.0f, in,
                k, params + w.offset, m, 0.0f, out, m);
    if (l + 1 < num_layers) {
      AddBiasAndActivate(spec_.activation, params + t[2 * l + 1].offset, rows, w.cols, out);
    }
    in = out;
  }
}

void Mlp::Backward(const float* params, const float* x, size_t rows, bool accumulate, float* grad) {
  const std::vector<TensorInfo>& t = layout_.tensors();
  for (size_t l = layout_.num_layers(); l-- > 0;) {
    const TensorInfo& w = t[2 * l];
    const int in = static_cast<int>(w.rows), out = static_cast<int>(w.cols);
    const float* a_in = l == 0 ? x : acts_[l - 1].data();
    const float* d = deltas_[l].data();
    // dW (+)= A_in^T * delta. beta = 0 on the first chunk overwrites grad, so
    // the caller's buffer needs no separate zeroing pass.
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, in, out, static_cast<int>(rows), 1.0f,
                a_in, in, d, out, accumulate ? 1.0f : 0.0f, grad + w.offset, out);
    if (l == 0) break;  // the gradient with respect to the input is not needed
    float* d_prev = deltas_[l - 1].data();
    // delta_{l-1} = (delta_l * W^T) .* f'(a_{l-1}), bias gradient fused in.
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows), in, out, 1.0f, d,
                out, params + w.offset, out, 0.0f, d_prev, in);
    ActivationBackward(spec_.activation, acts_[l - 1].data(), rows, w.rows, d_prev,
                       grad + t[2 * (l - 1) + 1].offset);
  }
}

double Mlp::ForwardBackward(const float* params, const float* x, const int32_t* labels, size_t n,
                            float* grad) {
  if (n == 0) {
    std::fill(grad, grad + layout_.total(), 0.0f);
    return 0.0;
  }
  const std::vector<TensorInfo>& t = layout_.tensors();
  // Bias gradients are sums accumulated by the fused passes; weight gradients
  // are overwritten by the first chunk's sgemm.
  for (size_t l = 0; l < layout_.num_layers(); ++l) {
    std::fill(grad + t[2 * l + 1].offset, grad + t[2 * l + 1].offset + t[2 * l + 1].size(), 0.0f);
  }
  const size_t c = num_classes();
  const float* out_bias = params + t.back().offset;
  float* out_bias_grad = grad + t.back().offset;
  double loss = 0.0;
  for (size_t start = 0; start < n; start += chunk_rows_) {
    const size_t rows = std::min(chunk_rows_, n - start);
    const float* xc = x + start * num_inputs();
    Forward(params, xc, rows);
    // Output layer: delta = softmax(z) - onehot(y), the gradient of the
    // cross-entropy with respect to the logits.
    float* z = acts_.back().data();
    float* d = deltas_.back().data();
    for (size_t i = 0; i < rows; ++i, z += c, d += c) {
      const float mx = AddBiasAndMax(out_bias, c, z);
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
    Backward(params, xc, rows, /*accumulate=*/start > 0, grad);
  }
  return loss;
}

double Mlp::Loss(const float* params, const float* x, const int32_t* labels, size_t n) {
  const size_t c = num_classes();
  const float* out_bias = params + layout_.tensors().back().offset;
  double loss = 0.0;
  for (size_t start = 0; start < n; start += chunk_rows_) {
    const size_t rows = std::min(chunk_rows_, n - start);
    Forward(params, x + start * num_inputs(), rows);
    float* z = acts_.back().data();
    for (size_t i = 0; i < rows; ++i, z += c) {
      const float mx = AddBiasAndMax(out_bias, c, z);
      const int32_t y = labels[start + i];
      loss += ValidLabel(y, c) ? RowLoss(z, c, mx, y) : kNaN;
    }
  }
  return loss;
}

size_t Mlp::CountCorrect(const float* params, const float* x, const int32_t* labels, size_t n) {
  const size_t c = num_classes();
  const float* out_bias = params + layout_.tensors().back().offset;
  size_t correct = 0;
  for (size_t start = 0; start < n; start += chunk_rows_) {
    const size_t rows = std::min(chunk_rows_, n - start);
    Forward(params, x + start * num_inputs(), rows);
    const float* z = acts_.back().data();
    for (size_t i = 0; i < rows; ++i, z += c) {
      // Arg-max of z + bias; ties go to the lowest class index.
      size_t best = 0;
      float best_z = z[0] + out_bias[0];
      for (size_t j = 1; j < c; ++j) {
        const float v = z[j] + out_bias[j];
        if (v > best_z) {
          best_z = v;
          best = j;
        }
      }
      const int32_t y = labels[start + i];
      correct += ValidLabel(y, c) && static_cast<size_t>(y) == best;
    }
  }
  return correct;
}

}  // namespace pst
