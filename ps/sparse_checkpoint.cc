#include "ps/sparse_checkpoint.h"

#include <set>

namespace pst {

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
    if (t.changed != r.ids.size() || r.last_steps.size() != r.ids.size())
      return Status::InvalidArgument(
          where + std::to_string(r.ids.size()) + " ids and " + std::to_string(r.last_steps.size()) +
          " steps, manifest says " + std::to_string(t.changed) + " rows");
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
