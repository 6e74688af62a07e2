#include "common/sparse_model_tables.h"

#include <cmath>

#include "common/sparse_optimizer_catalog.h"

namespace pst {
namespace {

TableSpec Decl(std::string name, TableKind kind, uint64_t size, uint32_t dim, uint64_t seed,
               double scale) {
  TableSpec t;
  t.name = std::move(name);
  t.kind = kind;
  t.size = size;
  t.dim = dim;
  t.init.kind = scale > 0 ? TableInitKind::kUniform : TableInitKind::kZeros;
  t.init.seed = scale > 0 ? seed : 0;
  t.init.scale = scale;
  return t;
}

// The sparse rules a job's [optimizer] maps to (as ps/sparse_table_spec.cc does).
bool SparseRowsTake(const OptimizerSpec& o) {
  const bool kind = o.kind == OptimizerKind::kSgd || o.kind == OptimizerKind::kAdagrad ||
                    o.kind == OptimizerKind::kAdam;
  return kind && o.schedule == LrSchedule::kConstant && o.weight_decay == 0;
}

}  // namespace

TableSpec SparseTableDecl(std::string name, uint32_t dim, uint64_t seed, double scale) {
  return Decl(std::move(name), TableKind::kSparse, 0, dim, seed, scale);
}

TableSpec DenseTableDecl(std::string name, uint64_t size, uint64_t seed, double scale) {
  return Decl(std::move(name), TableKind::kDense, size, 0, seed, scale);
}

std::vector<TableSpec> FmTables(const std::string& name, uint32_t num_dense, uint32_t factors,
                                double init_scale, uint64_t seed) {
  return {SparseTableDecl(name + ".rows", 1 + factors, seed, init_scale),
          DenseTableDecl(name + ".dense", num_dense + 1ull, 0, 0.0)};
}

std::vector<TableSpec> EmbeddingMlpTables(const std::string& name, uint32_t num_fields,
                                          uint32_t num_dense, uint32_t embedding_dim,
                                          const std::vector<uint32_t>& hidden, double init_scale,
                                          uint64_t seed) {
  std::vector<uint32_t> widths{num_fields * embedding_dim + num_dense};
  widths.insert(widths.end(), hidden.begin(), hidden.end());
  widths.push_back(1);
  std::vector<TableSpec> tables{SparseTableDecl(name + ".emb", embedding_dim, seed, init_scale)};
  for (size_t l = 0; l + 1 < widths.size(); ++l) {
    const uint64_t in = widths[l], out = widths[l + 1];
    tables.push_back(DenseTableDecl(name + ".w" + std::to_string(l), in * out, seed,
                                    std::sqrt(6.0 / static_cast<double>(in + out))));
    tables.push_back(DenseTableDecl(name + ".b" + std::to_string(l), out, 0, 0.0));
  }
  return tables;
}

uint32_t SparseDataFields(const SparseDataSpec& data) {
  return data.format == DataFormat::kLibsvm ? 1 : data.categorical_fields;
}

uint32_t SparseDataDense(const SparseDataSpec& data) {
  return data.format == DataFormat::kLibsvm ? 0 : data.dense_features;
}

std::vector<TableSpec> SparseModelDecls(const JobSpec& job) {
  const ModelSpec& m = job.model;
  const uint32_t dense = SparseDataDense(job.sparse_data);
  switch (m.kind) {
    case ModelKind::kLr:
      return FmTables("lr", dense, 0, 0.0, m.seed);
    case ModelKind::kFm:
      return FmTables("fm", dense, m.factors, m.init_scale, m.seed);
    case ModelKind::kEmbeddingMlp:
    case ModelKind::kMlp:
      break;
  }
  return EmbeddingMlpTables("dlrm", SparseDataFields(job.sparse_data), dense, m.embedding_dim,
                            m.hidden, m.init_scale, m.seed);
}

StatusOr<std::vector<TableSpec>> SparseModelTables(const JobSpec& job) {
  std::vector<TableSpec> tables = SparseModelDecls(job);
  for (TableSpec& t : tables) t.optimizer = job.optimizer;
  std::vector<bool> configured(tables.size(), false);
  for (const SparseTableConfig& c : job.sparse_tables) {
    const std::string who = "sparse_table '" + c.name + "'";
    size_t i = 0;
    while (i < tables.size() && !(tables[i].kind == TableKind::kSparse && tables[i].name == c.name))
      ++i;
    if (i == tables.size()) {
      std::string names;
      for (const TableSpec& t : tables)
        if (t.kind == TableKind::kSparse) names += (names.empty() ? "" : ", ") + t.name;
      return Status::InvalidArgument(who + ": model " + ModelKindName(job.model.kind) +
                                     " has no such sparse table (it has: " + names + ")");
    }
    if (configured[i]) return Status::InvalidArgument(who + ": configured twice");
    configured[i] = true;
    TableSpec& t = tables[i];
    if (c.dim != 0 && c.dim != t.dim) {
      return Status::InvalidArgument(who + ": dim " + std::to_string(c.dim) + ", but the model's " +
                                     "rows have " + std::to_string(t.dim) + " floats");
    }
    if (!c.optimizer.empty()) {
      PST_RETURN_IF_ERROR(ResolveSparseOptimizerParams(c.optimizer, c.params, who).status());
      t.sparse_optimizer = c.optimizer;
      t.sparse_optimizer_params = c.params;
    } else if (!c.params.empty()) {
      return Status::InvalidArgument(who + ": optimizer parameters need an optimizer (one of " +
                                     SparseOptimizerNames("|") + ")");
    }
    if (c.admit_after > 65535)
      return Status::InvalidArgument(who + ".admit_after: must be in [0, 65535]");
    t.admit_after = c.admit_after;
    t.evict_after_steps = c.evict_after_steps;
    t.max_rows = c.max_rows;
    if (c.seed != 0 && t.init.kind == TableInitKind::kUniform) t.init.seed = c.seed;
  }
  for (const TableSpec& t : tables) {
    if (t.kind == TableKind::kSparse && t.sparse_optimizer.empty() && !SparseRowsTake(job.optimizer))
      return Status::InvalidArgument(
          "sparse_table '" + t.name + "': takes the job's optimizer, but sparse rows take only " +
          "sgd, adagrad or adam with a constant schedule and no weight decay: set optimizer.kind " +
          "or give the table its own optimizer in a [[sparse_table]] entry");
  }
  return tables;
}

}  // namespace pst
