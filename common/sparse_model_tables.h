// The tables of the sparse models (logistic regression, factorization machine,
// embedding + MLP), declared once: the worker's models (worker/models/) compute
// on exactly these, and JobTables() hands them, with the job's per-table
// settings applied, to the parameter servers. Names and shapes:
//   lr             lr.rows    sparse, dim 1, zeros
//                  lr.dense   dense, num_dense + 1 (weights of the dense
//                             features, then the bias), zeros
//   fm             fm.rows    sparse, dim 1 + factors, uniform(seed, init_scale)
//                  fm.dense   as lr.dense
//   embedding_mlp  dlrm.emb   sparse, dim embedding_dim, uniform(seed, init_scale)
//                  dlrm.w<l>, dlrm.b<l>  dense MLP layers (Glorot-uniform
//                             weights, zero biases), input width
//                             fields * embedding_dim + num_dense, output 1
// Pure functions: thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/job_spec.h"
#include "common/status.h"
#include "common/table_spec.h"

namespace pst {

// A table declaration with a uniform initializer in [-scale, scale) (zeros
// when scale is 0) and default settings otherwise.
TableSpec SparseTableDecl(std::string name, uint32_t dim, uint64_t seed, double scale);
TableSpec DenseTableDecl(std::string name, uint64_t size, uint64_t seed, double scale);

// A factorization machine's tables (logistic regression: factors 0, scale 0).
std::vector<TableSpec> FmTables(const std::string& name, uint32_t num_dense, uint32_t factors,
                                double init_scale, uint64_t seed);
// An embedding + MLP's tables.
std::vector<TableSpec> EmbeddingMlpTables(const std::string& name, uint32_t num_fields,
                                          uint32_t num_dense, uint32_t embedding_dim,
                                          const std::vector<uint32_t>& hidden, double init_scale,
                                          uint64_t seed);

// The data's shape: sparse fields and dense features per sample.
uint32_t SparseDataFields(const SparseDataSpec& data);
uint32_t SparseDataDense(const SparseDataSpec& data);

// The tables model `job.model.kind` declares, without the job's settings.
// REQUIRES: job.sparse().
std::vector<TableSpec> SparseModelDecls(const JobSpec& job);

// The sparse model's tables with the job's settings: every table takes
// job.optimizer, and each sparse table its [[sparse_table]] entry's rule,
// admission, eviction, row bound and seed. kInvalidArgument, naming the
// entry, for an entry that names no sparse table of the model, names one
// twice, gives another dim, an unknown rule or parameter, or a job optimizer
// sparse rows cannot take when a table has no rule of its own.
// REQUIRES: job.sparse().
StatusOr<std::vector<TableSpec>> SparseModelTables(const JobSpec& job);

}  // namespace pst
