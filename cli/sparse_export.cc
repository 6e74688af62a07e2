#include "cli/sparse_export.h"

#include <algorithm>
#include <filesystem>
#include <span>
#include <system_error>

#include <nlohmann/json.hpp>

#include "common/file_io.h"
#include "common/npy.h"
#include "common/sparse_model_tables.h"

namespace pst {
namespace {

namespace fs = std::filesystem;

nlohmann::ordered_json InitJson(const TableSpec& t) {
  if (t.admit_after >= 2) return {{"kind", "zeros"}, {"note", "with admission, absent ids read 0"}};
  if (t.init.kind == TableInitKind::kZeros) return {{"kind", "zeros"}};
  return {{"kind", "uniform"}, {"seed", t.init.seed}, {"scale", t.init.scale}};
}

nlohmann::ordered_json ModelJson(const JobSpec& job) {
  const ModelSpec& m = job.model;
  nlohmann::ordered_json j = {{"kind", ModelKindName(m.kind)},
                              {"fields", SparseDataFields(job.sparse_data)},
                              {"dense_features", SparseDataDense(job.sparse_data)}};
  if (m.kind == ModelKind::kFm) j["factors"] = m.factors;
  if (m.kind == ModelKind::kEmbeddingMlp) {
    j["embedding_dim"] = m.embedding_dim;
    j["hidden"] = m.hidden;
  }
  return j;
}

// Writes one sparse table's ids and rows, sorted by id.
StatusOr<uint64_t> WriteSparseTable(const SparseTable& table, const fs::path& dir,
                                    nlohmann::ordered_json* entry) {
  std::vector<uint64_t> ids;
  ids.reserve(table.stats().rows);
  table.ForEachRow([&](uint64_t id, const float*, uint64_t) { ids.push_back(id); });
  std::sort(ids.begin(), ids.end());
  const uint32_t dim = table.dim();
  std::vector<float> rows(ids.size() * dim);
  for (size_t i = 0; i < ids.size(); ++i)
    std::copy_n(table.FindRow(ids[i]), dim, rows.data() + i * dim);
  const std::string ids_file = table.name() + ".ids.npy";
  const std::string rows_file = table.name() + ".rows.npy";
  PST_RETURN_IF_ERROR(
      WriteNpy((dir / ids_file).string(), {ids.size()}, std::span<const uint64_t>(ids)));
  PST_RETURN_IF_ERROR(
      WriteNpy((dir / rows_file).string(), {ids.size(), dim}, std::span<const float>(rows)));
  (*entry)["rows"] = ids.size();
  (*entry)["dim"] = dim;
  (*entry)["ids_file"] = ids_file;
  (*entry)["rows_file"] = rows_file;
  return ids.size();
}

}  // namespace

std::vector<uint64_t> DenseTableShape(const JobSpec& job, const TableSpec& table) {
  if (job.model.kind != ModelKind::kEmbeddingMlp || table.name.rfind("dlrm.w", 0) != 0)
    return {table.size};
  std::vector<uint64_t> widths{uint64_t{SparseDataFields(job.sparse_data)} *
                                   job.model.embedding_dim +
                               SparseDataDense(job.sparse_data)};
  widths.insert(widths.end(), job.model.hidden.begin(), job.model.hidden.end());
  widths.push_back(1);
  const size_t l = std::stoul(table.name.substr(6));
  return {widths.at(l), widths.at(l + 1)};
}

StatusOr<SparseExportSummary> WriteSparseExport(const CheckpointModel& model,
                                                const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return Status::Unavailable("cannot create directory " + dir + ": " + ec.message() +
                               " (choose another --out)");
  }
  SparseExportSummary summary;
  nlohmann::ordered_json tables = nlohmann::ordered_json::array();
  uint64_t offset = 0;  // in the dense key space
  size_t sparse_index = 0;
  for (const TableSpec& t : model.tables) {
    nlohmann::ordered_json entry = {{"name", t.name}, {"kind", TableKindName(t.kind)}};
    if (t.kind == TableKind::kSparse) {
      entry["init"] = InitJson(t);
      PST_ASSIGN_OR_RETURN(const uint64_t rows,
                           WriteSparseTable(*model.sparse.at(sparse_index++), dir, &entry));
      ++summary.sparse_tables;
      summary.sparse_rows += rows;
      summary.floats += rows * t.dim;
    } else {
      const std::string file = t.name + ".npy";
      const std::vector<uint64_t> shape = DenseTableShape(model.job, t);
      PST_RETURN_IF_ERROR(WriteNpy((fs::path(dir) / file).string(), shape,
                                   std::span<const float>(model.params).subspan(offset, t.size)));
      entry["shape"] = shape;
      entry["file"] = file;
      offset += t.size;
      ++summary.dense_tables;
      summary.floats += t.size;
    }
    tables.push_back(std::move(entry));
  }
  const nlohmann::ordered_json manifest = {{"format", "pstrain sparse export 1"},
                                           {"checkpoint", model.record.id},
                                           {"clock", model.record.clock},
                                           {"model", ModelJson(model.job)},
                                           {"tables", std::move(tables)}};
  const std::string text = manifest.dump(2) + "\n";
  const std::string_view pieces[] = {text};
  PST_RETURN_IF_ERROR(WriteFileAtomically((fs::path(dir) / "model.json").string(), pieces));
  return summary;
}

}  // namespace pst
