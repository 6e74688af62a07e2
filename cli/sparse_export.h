// The export format of a sparse model (`pstrain export` of a job whose model
// is lr, fm or embedding_mlp): a directory numpy reads directly.
//
//   <table>.ids.npy    per sparse table: uint64, shape [n], the ids of its
//                      rows, ascending
//   <table>.rows.npy   per sparse table: float32, shape [n, dim], row i for
//                      ids[i]
//   <table>.npy        per dense table: float32; embedding_mlp's weights
//                      dlrm.w<l> have shape [in, out] (y = x w + b), every
//                      other dense table shape [size]
//   model.json         what the files are: the model kind and its settings,
//                      the checkpoint, and per table its kind, shape and files
//
// Only the rows the tables hold are written: an id that is absent was never
// trained and reads as its initial row (common/table_spec.h: zeros for lr,
// uniform from the table's seed otherwise; zeros with admission), which
// model.json's "init" says. Optimizer state is not exported.
// Functions block on file I/O and throw nothing.
#pragma once

#include <cstdint>
#include <string>

#include "cli/checkpoint_model.h"
#include "common/status.h"

namespace pst {

struct SparseExportSummary {
  uint64_t sparse_tables = 0;
  uint64_t dense_tables = 0;
  uint64_t sparse_rows = 0;  // over all sparse tables
  uint64_t floats = 0;       // dense floats plus rows x dim
};

// The shape a dense table of `job` is exported with (see above).
std::vector<uint64_t> DenseTableShape(const JobSpec& job, const TableSpec& table);

// Writes the files above into `dir` (created, with its parents; files there
// are replaced one by one, each atomically). REQUIRES: model.job.sparse().
// kUnavailable / kInternal for I/O errors, naming the path.
StatusOr<SparseExportSummary> WriteSparseExport(const CheckpointModel& model,
                                                const std::string& dir);

}  // namespace pst
