#include "worker/models/sparse_model.h"

#include <cmath>

#include <fmt/format.h>

namespace pst {

Status CheckModelParams(const std::vector<TableSpec>& tables, const SparseBatch& batch,
                        const ModelParams& params) {
  size_t sparse = 0, dense = 0;
  for (const TableSpec& t : tables) {
    if (t.kind == TableKind::kSparse) {
      if (sparse >= params.sparse.size()) break;
      const ModelParams::Sparse& s = params.sparse[sparse++];
      if (s.ids == nullptr || s.rows == nullptr || s.ids->slot.size() != batch.ids.size()) {
        return Status::InvalidArgument(fmt::format(
            "table '{}': the rows and unique ids of this batch's {} ids are required", t.name,
            batch.ids.size()));
      }
    } else {
      if (dense >= params.dense.size()) break;
      if (params.dense[dense++] == nullptr) {
        return Status::InvalidArgument(fmt::format("table '{}': no values given", t.name));
      }
    }
  }
  size_t want_sparse = 0;
  for (const TableSpec& t : tables) want_sparse += t.kind == TableKind::kSparse;
  if (params.sparse.size() != want_sparse || params.dense.size() != tables.size() - want_sparse) {
    return Status::InvalidArgument(
        fmt::format("model has {} sparse and {} dense tables, params have {} and {}", want_sparse,
                    tables.size() - want_sparse, params.sparse.size(), params.dense.size()));
  }
  return Status::OK();
}

void ZeroModelGrads(const std::vector<TableSpec>& tables, const ModelParams& params,
                    ModelGrads* grads) {
  grads->sparse.resize(params.sparse.size());
  grads->dense.resize(params.dense.size());
  size_t sparse = 0, dense = 0;
  for (const TableSpec& t : tables) {
    if (t.kind == TableKind::kSparse) {
      const size_t n = params.sparse[sparse].ids->size() * t.dim;
      grads->sparse[sparse++].assign(n, 0.0f);
    } else {
      grads->dense[dense++].assign(t.size, 0.0f);
    }
  }
}

double LogisticLoss(double z, float y) {
  return std::max(z, 0.0) - z * y + std::log1p(std::exp(-std::abs(z)));
}

double Sigmoid(double z) {
  if (z >= 0) return 1.0 / (1.0 + std::exp(-z));
  const double e = std::exp(z);
  return e / (1.0 + e);
}

}  // namespace pst
