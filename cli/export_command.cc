#include "cli/export_command.h"

#include <filesystem>
#include <system_error>

#include <fmt/format.h>

#include "cli/checkpoint_model.h"
#include "common/model_file.h"

namespace pst {

const char kExportHelpFooter[] =
    "Writes the model of a complete checkpoint (the latest unless --checkpoint) as a safetensors\n"
    "file. Works on a running job (the databases are opened read-only) and on a finished one.\n"
    "\n"
    "File format (Hugging Face safetensors):\n"
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
  namespace fs = std::filesystem;
  r.path = !options.out.empty() ? options.out
                                : (fs::path(options.run_dir) / "export" /
                                   ("model-" + std::to_string(r.checkpoint_id) + ".safetensors"))
                                      .string();
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
  out << fmt::format("exported checkpoint {} (clock {}, {} parameters) to {}\n", r.checkpoint_id,
                     r.clock, r.num_params, r.path);
  return Status::OK();
}

}  // namespace pst
