// Embedding + MLP (the wide-and-deep / DLRM shape): each sparse field's
// embeddings are sum-pooled (weighted by the feature values), the pooled
// vectors of all fields are concatenated with the dense features, and an MLP
// with ReLU hidden layers and one output unit gives the logit; p = sigmoid.
// Matrix products use OpenBLAS (cblas_sgemm).
//
// Tables:
//   <name>.emb       sparse, dim embedding_dim, uniform in [-init_scale, init_scale);
//   <name>.w<l>      dense, in_l x out_l (row-major: input index major),
//                    Glorot-uniform: scale sqrt(6 / (in_l + out_l));
//   <name>.b<l>      dense, out_l, zeros;
// for layers l = 0 .. hidden.size(), in_0 = num_fields * embedding_dim + num_dense,
// out_last = 1. Thread-compatible (see SparseModel).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "worker/models/sparse_model.h"

namespace pst {

struct EmbeddingMlpOptions {
  // Prefix of the table names. Default: "dlrm".
  std::string name = "dlrm";
  // Sparse fields per sample (the batch's num_fields must match). Default: 26.
  uint32_t num_fields = 26;
  // Dense features per sample (the batch's num_dense must match). Default: 13.
  uint32_t num_dense = 13;
  // Floats per embedding row, >= 1. Default: 16.
  uint32_t embedding_dim = 16;
  // Widths of the hidden layers, each >= 1 (may be empty: a linear model on the
  // pooled embeddings). Default: {64, 32}.
  std::vector<uint32_t> hidden = {64, 32};
  // Half-width of the embeddings' uniform initialisation. Default: 0.05.
  double init_scale = 0.05;
  // Seed of every table's initializer (common/table_spec.h). Default: 1.
  uint64_t seed = 1;
};

class EmbeddingMlp : public SparseModel {
 public:
  // kInvalidArgument for a zero embedding_dim, field count or hidden width, an
  // empty name or a bad init_scale.
  static StatusOr<std::unique_ptr<EmbeddingMlp>> Create(const EmbeddingMlpOptions& options);

  const std::vector<TableSpec>& tables() const override { return tables_; }
  StatusOr<double> ForwardBackward(const SparseBatch& batch, const ModelParams& params,
                                   ModelGrads* grads) override;
  Status Predict(const SparseBatch& batch, const ModelParams& params,
                 std::vector<float>* probabilities) override;

 private:
  explicit EmbeddingMlp(const EmbeddingMlpOptions& options);
  Status Check(const SparseBatch& batch, const ModelParams& params) const;
  // Pools and concatenates the inputs into acts_[0], then runs the layers;
  // logits_ gets one logit per sample.
  void Forward(const SparseBatch& batch, const ModelParams& params);
  // Layer l's weights and bias in params (dense tables 2l and 2l + 1).
  const float* weights(const ModelParams& params, size_t l) const { return params.dense[2 * l]; }
  const float* bias(const ModelParams& params, size_t l) const { return params.dense[2 * l + 1]; }

  EmbeddingMlpOptions options_;
  std::vector<TableSpec> tables_;
  std::vector<uint32_t> widths_;  // in_0, hidden..., 1
  // Scratch, resized per batch: activations per layer input (acts_[0] is the
  // pooled input), the last layer's output, and two delta buffers.
  std::vector<std::vector<float>> acts_;
  std::vector<float> logits_;
  std::vector<float> delta_, delta_below_;
};

}  // namespace pst
