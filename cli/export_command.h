// `pstrain export RUN_DIR`: writes the model of a complete checkpoint of a run
// (see cli/checkpoint_model.h): the MLP as a safetensors file
// (common/model_file.h), a sparse model as a directory of .npy files
// (cli/sparse_export.h).
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

#include "common/status.h"

namespace pst {

struct ExportOptions {
  // The run directory of a `pstrain launch`.
  std::string run_dir;
  // The checkpoint to export; nullopt = the latest complete one. Default: nullopt.
  std::optional<uint64_t> checkpoint;
  // Output file (the MLP) or directory (a sparse model); empty =
  // RUN_DIR/export/model-<id>.safetensors or RUN_DIR/export/model-<id>/.
  // Parent directories are created. Default: empty.
  std::string out;
};

// The `--help` text describing the file format.
extern const char kExportHelpFooter[];

struct ExportResult {
  std::string path;  // the file (MLP) or directory (sparse model) written
  uint64_t checkpoint_id = 0;
  uint64_t clock = 0;
  uint64_t num_params = 0;  // floats exported: dense values plus sparse rows x dim
  // Sparse models: tables and rows written.
  bool sparse = false;
  uint64_t sparse_tables = 0;
  uint64_t dense_tables = 0;
  uint64_t sparse_rows = 0;
};

// Loads the checkpoint and writes the file. Errors: those of
// LoadCheckpointModel; kUnavailable / kInternal if the file cannot be written
// (the message names the path).
StatusOr<ExportResult> ExportCheckpoint(const ExportOptions& options);

// ExportCheckpoint, then prints one line to `out`:
// "exported checkpoint <id> (clock <c>, <n> parameters) to <path>", for a
// sparse model "exported checkpoint <id> (clock <c>, <s> sparse tables with
// <r> rows, <d> dense tables, <n> parameters) to <dir>".
Status RunExportCommand(const ExportOptions& options, std::ostream& out);

}  // namespace pst
