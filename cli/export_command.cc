#include "cli/export_command.h"

#include <filesystem>
#include <system_error>

#include <fmt/format.h>

#include "cli/checkpoint_model.h"
#include "cli/sparse_export.h"
#include "common/model_file.h"

namespace pst {

const char kExportHelpFooter[] =
    "Writes the model of a complete checkpoint (the latest unless --checkpoint): the MLP as a\n"
    "safetensors file, a sparse model (lr, fm, embedding_mlp) as a directory of .npy files.\n"
    "Works on a running job (the databases are opened read-only) and on a finished one.\n"
    "Optimizer state is not exported.\n"
    "\n"
    "MLP file format (Hugging Face safetensors):\n"
    "  8 bytes   N, the header length, little-endian uint64\n"
    "  N bytes   JSON header, space-padded: {\"__metadata__\": {\"pstrain.layers\": "
    "\"784,128,10\",\n"
    "            \"pstrain.activation\": \"relu\", \"format\": \"pt\"}, \"w0\": {\"dtype\": "
    "\"F32\",\n"
    "            \"shape\": [784, 128], \"data_offsets\": [begin, end]}, \"b0\": {...}, ...}\n"
    "  rest      the tensors' raw little-endian float32 values; data_offsets count bytes from\n"
    "            the end of the header\n"
    "Layer l has a weight w<l> of shape [in, out] (row-major, y = x * w + b) and a bias b<l> of\n"
    "shape [out]. Python: safetensors.numpy.load_file(PATH).\n"
    "\n"
    "Sparse model directory (numpy.load reads every file):\n"
    "  <table>.ids.npy    per sparse table: uint64 [n], the ids of its rows, ascending\n"
    "  <table>.rows.npy   per sparse table: float32 [n, dim], row i belongs to ids[i]\n"
    "  <table>.npy        per dense table: float32; dlrm.w<l> is [in, out], others [size]\n"
    "  model.json         the model's kind and settings, the checkpoint, each table's files;\n"
    "                     an id without a row reads as the table's \"init\" (never trained)\n"
    "\n"
    "Examples:\n"
    "  pstrain export runs/20261123-061500-4242\n"
    "  pstrain export runs/20261123-061500-4242 --checkpoint 12 --out model.safetensors";

StatusOr<ExportResult> ExportCheckpoint(const ExportOptions& options) {
  PST_ASSIGN_OR_RETURN(CheckpointModel model,
                       LoadCheckpointModel(options.run_dir, options.checkpoint));
  ExportResult r;
  r.checkpoint_id = model.record.id;
  r.clock = model.record.clock;
  r.num_params = model.params.size();
  r.sparse = model.job.sparse();
  namespace fs = std::filesystem;
  const std::string name = "model-" + std::to_string(r.checkpoint_id);
  r.path = !options.out.empty()
               ? options.out
               : (fs::path(options.run_dir) / "export" / (r.sparse ? name : name + ".safetensors"))
                     .string();
  if (r.sparse) {
    PST_ASSIGN_OR_RETURN(SparseExportSummary s, WriteSparseExport(model, r.path));
    r.num_params = s.floats;
    r.sparse_tables = s.sparse_tables;
    r.dense_tables = s.dense_tables;
    r.sparse_rows = s.sparse_rows;
    return r;
  }
  const fs::path parent = fs::path(r.path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    fs::create_directories(parent, ec);
    if (ec) {
      return Status::Unavailable("cannot create directory " + parent.string() + " for " + r.path +
                                 ": " + ec.message() + " (choose another --out)");
    }
  }
  PST_RETURN_IF_ERROR(SaveModel(r.path, model.job.model, model.params.data()));
  return r;
}

Status RunExportCommand(const ExportOptions& options, std::ostream& out) {
  PST_ASSIGN_OR_RETURN(ExportResult r, ExportCheckpoint(options));
  if (r.sparse) {
    out << fmt::format(
        "exported checkpoint {} (clock {}, {} sparse tables with {} rows, {} dense tables, {} "
        "parameters) to {}\n",
        r.checkpoint_id, r.clock, r.sparse_tables, r.sparse_rows, r.dense_tables, r.num_params,
        r.path);
    return Status::OK();
  }
  out << fmt::format("exported checkpoint {} (clock {}, {} parameters) to {}\n", r.checkpoint_id,
                     r.clock, r.num_params, r.path);
  return Status::OK();
}

}  // namespace pst
