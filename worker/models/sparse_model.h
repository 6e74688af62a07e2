// SparseModel: a binary classifier over a SparseBatch whose parameters are a
// few named tables (sparse embedding tables of rows, dense tables of floats).
// Pure computation on parameters pulled beforehand: no networking, no state
// between calls other than scratch buffers, so the same code runs in a worker
// on rows pulled from the PS and in a single-process reference trainer.
//
// A step: DedupIds(batch.ids) gives the unique ids to pull from each sparse
// table (every model here reads all of a batch's ids from each of its sparse
// tables); the caller pulls those rows and the dense tables and calls
// ForwardBackward, then pushes the gradients of the unique ids (repeated ids
// already summed) and of the dense tables.
//
// Gradients are of the SUM of the per-sample log-losses over the batch (the
// caller divides by the batch size or lets the PS do it), like worker/mlp.h.
// Not thread-safe: one thread per model object (scratch buffers).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/table_spec.h"
#include "worker/data/sparse_batch.h"
#include "worker/models/unique_ids.h"

namespace pst {

// The pulled parameters of one step. Sparse and dense tables each in the order
// the model declares them (tables() filtered by kind).
struct ModelParams {
  struct Sparse {
    // The batch's unique ids and, per batch.ids position, its row (not owned).
    const UniqueIds* ids = nullptr;
    // ids->size() * dim floats: the pulled rows, row i for ids->ids[i].
    const float* rows = nullptr;
  };
  std::vector<Sparse> sparse;
  // One pointer per dense table, to its `size` floats.
  std::vector<const float*> dense;
};

// Gradients in the same shapes: sparse[t] has ids->size() * dim floats (the
// row gradients of the unique ids), dense[t] the dense table's size.
struct ModelGrads {
  std::vector<std::vector<float>> sparse;
  std::vector<std::vector<float>> dense;
};

class SparseModel {
 public:
  virtual ~SparseModel() = default;

  // The tables, sparse and dense, in declaration order (each with its
  // initializer; the optimizer is left at its default for the job to set).
  virtual const std::vector<TableSpec>& tables() const = 0;

  // Forward and backward pass. Resizes and overwrites *grads. Returns the sum
  // of the per-sample log-losses. kInvalidArgument if params do not match the
  // tables or the batch's shape (fields, dense features) does not match the
  // model's.
  virtual StatusOr<double> ForwardBackward(const SparseBatch& batch, const ModelParams& params,
                                           ModelGrads* grads) = 0;

  // Probability of label 1 per sample, into *probabilities (resized).
  virtual Status Predict(const SparseBatch& batch, const ModelParams& params,
                         std::vector<float>* probabilities) = 0;
};

// Table declarations: common/sparse_model_tables.h.

// Checks that params has one entry per sparse and dense table of `tables`,
// with ids covering the batch (ids->slot.size() == batch.ids.size()).
// kInvalidArgument naming the mismatch.
Status CheckModelParams(const std::vector<TableSpec>& tables, const SparseBatch& batch,
                        const ModelParams& params);

// Sizes grads for `tables` and the unique ids in params, all zero.
void ZeroModelGrads(const std::vector<TableSpec>& tables, const ModelParams& params,
                    ModelGrads* grads);

// log(1 + e^z) - y z: the log-loss of label y for logit z, without overflow.
double LogisticLoss(double z, float y);
double Sigmoid(double z);

}  // namespace pst
