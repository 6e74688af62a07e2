#include "ps/sparse_checkpoint.h"

#include <set>

#include "ps/live_rows.h"

namespace pst {

uint64_t SparseRowsDelta::row_count() const { return live ? live->rows() : ids.size(); }

Status SparseRowsDelta::Materialize() {
  if (live == nullptr) return Status::OK();
  const size_t stride = live->stride();
  ids.reserve(live->rows());
  last_steps.reserve(live->rows());
  data.reserve(live->rows() * stride);
  Status s = live->ForEachRow(
      [&](uint64_t id, uint32_t last, const float* row) {
        ids.push_back(id);
        last_steps.push_back(last);
        data.insert(data.end(), row, row + stride);
        return Status::OK();
      },
      [] { return Status::OK(); });
  live->Close();
  live.reset();
  return s;
}

Status ValidateSparseRows(const std::vector<SparseTableManifest>& tables,
                          const std::vector<SparseRowsDelta>& rows, bool full) {
  if (tables.size() != rows.size()) {
    return Status::InvalidArgument("sparse checkpoint: " + std::to_string(tables.size()) +
                                   " tables described, rows of " + std::to_string(rows.size()));
  }
  std::set<std::string> names;
  for (size_t i = 0; i < tables.size(); ++i) {
    const SparseTableManifest& t = tables[i];
    const SparseRowsDelta& r = rows[i];
    const std::string where = "sparse table \"" + t.name + "\": ";
    if (t.name.empty()) return Status::InvalidArgument("sparse checkpoint: empty table name");
    if (!names.insert(t.name).second) return Status::InvalidArgument(where + "described twice");
    if (t.dim == 0) return Status::InvalidArgument(where + "dim 0");
    if (r.live != nullptr) {
      if (t.changed != r.live->rows() || r.live->stride() != t.stride() || !r.ids.empty())
        return Status::InvalidArgument(where + std::to_string(r.live->rows()) + " live rows of " +
                                       std::to_string(r.live->stride()) + " floats, manifest says " +
                                       std::to_string(t.changed) + " of " +
                                       std::to_string(t.stride()));
    } else if (t.changed != r.ids.size() || r.last_steps.size() != r.ids.size()) {
      return Status::InvalidArgument(
          where + std::to_string(r.ids.size()) + " ids and " + std::to_string(r.last_steps.size()) +
          " steps, manifest says " + std::to_string(t.changed) + " rows");
    }
    if (r.data.size() != r.ids.size() * t.stride())
      return Status::InvalidArgument(where + std::to_string(r.data.size()) + " floats for " +
                                     std::to_string(r.ids.size()) + " rows of " +
                                     std::to_string(t.stride()));
    if (t.removed != r.removed.size())
      return Status::InvalidArgument(where + std::to_string(r.removed.size()) +
                                     " tombstones, manifest says " + std::to_string(t.removed));
    if (full && (!r.removed.empty() || t.rows != t.changed))
      return Status::InvalidArgument(where + "a full checkpoint holds every row (" +
                                     std::to_string(t.rows) + ") and no tombstones");
  }
  return Status::OK();
}

}  // namespace pst
