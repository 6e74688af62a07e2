#include "worker/models/embedding_mlp.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "common/sparse_model_tables.h"

namespace pst {

StatusOr<std::unique_ptr<EmbeddingMlp>> EmbeddingMlp::Create(const EmbeddingMlpOptions& options) {
  if (options.name.empty() || options.embedding_dim == 0 || options.num_fields == 0 ||
      std::count(options.hidden.begin(), options.hidden.end(), 0u) > 0) {
    return Status::InvalidArgument(
        "embedding MLP: name, embedding_dim, num_fields and every hidden width must be non-empty "
        "/ >= 1");
  }
  if (!(options.init_scale >= 0) || !std::isfinite(options.init_scale)) {
    return Status::InvalidArgument(
        fmt::format("embedding MLP: init_scale {} is not a finite number >= 0", options.init_scale));
  }
  return std::unique_ptr<EmbeddingMlp>(new EmbeddingMlp(options));
}

EmbeddingMlp::EmbeddingMlp(const EmbeddingMlpOptions& options) : options_(options) {
  widths_.push_back(options.num_fields * options.embedding_dim + options.num_dense);
  widths_.insert(widths_.end(), options.hidden.begin(), options.hidden.end());
  widths_.push_back(1);
  tables_ = EmbeddingMlpTables(options.name, options.num_fields, options.num_dense,
                               options.embedding_dim, options.hidden, options.init_scale,
                               options.seed);
  acts_.resize(widths_.size() - 1);
}

Status EmbeddingMlp::Check(const SparseBatch& batch, const ModelParams& params) const {
  if (batch.num_fields != options_.num_fields || batch.num_dense != options_.num_dense) {
    return Status::InvalidArgument(fmt::format(
        "{}: batch has {} fields and {} dense features, model {} and {}", options_.name,
        batch.num_fields, batch.num_dense, options_.num_fields, options_.num_dense));
  }
  return CheckModelParams(tables_, batch, params);
}

void EmbeddingMlp::Forward(const SparseBatch& batch, const ModelParams& params) {
  const size_t n = batch.size();
  const uint32_t dim = options_.embedding_dim, in0 = widths_[0];
  const uint32_t* slot = params.sparse[0].ids->slot.data();
  std::vector<float>& x = acts_[0];
  x.assign(n * in0, 0.0f);
  for (size_t i = 0; i < n; ++i) {
    float* xi = x.data() + i * in0;
    for (uint32_t f = 0; f < options_.num_fields; ++f) {
      float* pooled = xi + size_t{f} * dim;
      for (uint32_t k = batch.cell_begin(i, f); k < batch.cell_end(i, f); ++k) {
        const float* row = params.sparse[0].rows + size_t{slot[k]} * dim;
        cblas_saxpy(static_cast<int>(dim), batch.values[k], row, 1, pooled, 1);
      }
    }
    std::copy_n(batch.dense_row(i), options_.num_dense, xi + size_t{options_.num_fields} * dim);
  }
  const size_t layers = widths_.size() - 1;
  for (size_t l = 0; l < layers; ++l) {
    const int in = static_cast<int>(widths_[l]), out = static_cast<int>(widths_[l + 1]);
    std::vector<float>& y = l + 1 < layers ? acts_[l + 1] : logits_;
    y.resize(n * out);
    const float* b = bias(params, l);
    for (size_t i = 0; i < n; ++i) std::copy_n(b, out, y.data() + i * out);
    if (n > 0) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(n), out, in, 1.0f,
                  acts_[l].data(), in, weights(params, l), out, 1.0f, y.data(), out);
    }
    if (l + 1 < layers) {
      for (float& v : y) v = std::max(v, 0.0f);
    }
  }
}

StatusOr<double> EmbeddingMlp::ForwardBackward(const SparseBatch& batch, const ModelParams& params,
                                               ModelGrads* grads) {
  PST_RETURN_IF_ERROR(Check(batch, params));
  ZeroModelGrads(tables_, params, grads);
  Forward(batch, params);
  const size_t n = batch.size();
  if (n == 0) return 0.0;
  double loss = 0;
  delta_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    loss += LogisticLoss(logits_[i], batch.labels[i]);
    delta_[i] = static_cast<float>(Sigmoid(logits_[i]) - batch.labels[i]);
  }
  // delta_ holds dLoss/d(output of layer l) before its activation, n x out.
  for (size_t l = widths_.size() - 1; l-- > 0;) {
    const int in = static_cast<int>(widths_[l]), out = static_cast<int>(widths_[l + 1]);
    float* grad_w = grads->dense[2 * l].data();
    float* grad_b = grads->dense[2 * l + 1].data();
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, in, out, static_cast<int>(n), 1.0f,
                acts_[l].data(), in, delta_.data(), out, 0.0f, grad_w, out);
    for (size_t i = 0; i < n; ++i) {
      for (int o = 0; o < out; ++o) grad_b[o] += delta_[i * out + o];
    }
    delta_below_.resize(n * in);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(n), in, out, 1.0f,
                delta_.data(), out, weights(params, l), out, 0.0f, delta_below_.data(), in);
    if (l > 0) {  // through the ReLU that produced acts_[l]
      for (size_t e = 0; e < delta_below_.size(); ++e) {
        if (acts_[l][e] <= 0.0f) delta_below_[e] = 0.0f;
      }
    }
    std::swap(delta_, delta_below_);
  }
  // delta_ is now dLoss/d(input), n x in_0: scatter the pooled parts to the rows.
  const uint32_t dim = options_.embedding_dim, in0 = widths_[0];
  const uint32_t* slot = params.sparse[0].ids->slot.data();
  for (size_t i = 0; i < n; ++i) {
    for (uint32_t f = 0; f < options_.num_fields; ++f) {
      const float* d = delta_.data() + i * in0 + size_t{f} * dim;
      for (uint32_t k = batch.cell_begin(i, f); k < batch.cell_end(i, f); ++k) {
        float* grad = grads->sparse[0].data() + size_t{slot[k]} * dim;
        cblas_saxpy(static_cast<int>(dim), batch.values[k], d, 1, grad, 1);
      }
    }
  }
  return loss;
}

Status EmbeddingMlp::Predict(const SparseBatch& batch, const ModelParams& params,
                             std::vector<float>* probabilities) {
  PST_RETURN_IF_ERROR(Check(batch, params));
  Forward(batch, params);
  probabilities->resize(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    (*probabilities)[i] = static_cast<float>(Sigmoid(logits_[i]));
  }
  return Status::OK();
}

}  // namespace pst
