// Table declarations: what a model asks the parameter servers to hold. A model
// is a set of named tables; the worker's model code declares them and the PS
// creates them from the declarations alone, knowing nothing of the model.
//  - A dense table is `size` floats. The dense tables of a job are laid back to
//    back, in declaration order, in one key space starting at key 0 (the
//    "dense key space"); the PS shards and blocks that key space.
//  - A sparse table maps uint64 ids to rows of `dim` floats, created on first
//    touch (EXPERIMENTAL: declared here, served by the sparse-table PS code).
// Initial values depend only on the initializer's seed and the element's key
// (a dense table: its key in the dense key space; a sparse row: its id), so
// any split of a table between shards gives the same values.
// Plain structs and pure functions: thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/job_spec.h"
#include "common/status.h"

namespace pst {

enum class TableKind : uint8_t { kDense = 0, kSparse = 1 };

enum class TableInitKind : uint8_t {
  // Every value is 0.
  kZeros = 0,
  // Uniform in [-scale, scale): for key k, u = the top 53 bits of
  // splitmix64(seed * 0x100000001b3 ^ splitmix64(k)) as a double in [0, 1),
  // value = float((2u - 1) * scale), computed in double.
  kUniform = 1,
};

struct TableInitializer {
  // Default: zeros.
  TableInitKind kind = TableInitKind::kZeros;
  // kUniform: the generator's seed. Default: 0.
  uint64_t seed = 0;
  // kUniform: the half-width of the interval, finite and >= 0 (a double, so a
  // model's limit, e.g. sqrt(6 / fan_in), is used to the last bit). Default: 0.
  double scale = 0.0;

  bool operator==(const TableInitializer&) const = default;
};

struct TableSpec {
  // Unique within a job: letters, digits, '_', '.', '-' (1..64 chars). Required.
  std::string name;
  // Default: dense.
  TableKind kind = TableKind::kDense;
  // kDense: number of floats, >= 1. Must be 0 for kSparse. Default: 0.
  uint64_t size = 0;
  // kSparse: floats per row, >= 1. Must be 0 for kDense. Default: 0.
  uint32_t dim = 0;
  // How the values start.
  TableInitializer init;
  // The update rule the PS applies to this table's gradients. Default: the
  // default OptimizerSpec.
  OptimizerSpec optimizer;
  // kSparse only: the per-row rule (common/sparse_optimizer_catalog.h) and its
  // parameters, or "" to derive it from `optimizer` (ps/sparse_table_spec.h).
  // Default: "".
  std::string sparse_optimizer;
  SparseOptimizerParams sparse_optimizer_params;
  // kSparse only: admission, eviction and row bound, as SparseTableConfig.
  // Defaults: 0 (off).
  uint32_t admit_after = 0;
  uint64_t evict_after_steps = 0;
  uint64_t max_rows = 0;

  bool operator==(const TableSpec&) const = default;
};

// kInvalidArgument naming the table and the offending field.
Status ValidateTableSpec(const TableSpec& table);
// Every table valid, names unique, at least one table. kInvalidArgument.
Status ValidateTables(const std::vector<TableSpec>& tables);

// Number of keys in the dense key space: the sum of the dense tables' sizes.
uint64_t DenseKeyCount(const std::vector<TableSpec>& tables);

// Writes the initial values of dense keys [begin, end) into out[0, end-begin).
// REQUIRES: begin <= end <= DenseKeyCount(tables); ValidateTables(tables).ok().
void InitDenseKeys(const std::vector<TableSpec>& tables, uint64_t begin, uint64_t end, float* out);

const char* TableKindName(TableKind kind);

}  // namespace pst
