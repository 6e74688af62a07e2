#include "common/sparse_table_report.h"

#include <algorithm>

namespace pst {

void ToProto(const std::vector<SparseTableReport>& reports,
             capnp::List<proto::SparseTableStatus>::Builder out) {
  for (size_t i = 0; i < reports.size() && i < out.size(); ++i) {
    const SparseTableReport& r = reports[i];
    auto b = out[i];
    b.setTable(r.table);
    b.setRows(r.rows);
    b.setBytes(r.bytes);
    b.setRawBytesPerRow(r.raw_bytes_per_row);
    b.setAdmitted(r.admitted);
    b.setEvicted(r.evicted);
    b.setUnadmittedUpdates(r.unadmitted_updates);
    b.setChangedRows(r.changed_rows);
  }
}

std::vector<SparseTableReport> FromProto(capnp::List<proto::SparseTableStatus>::Reader in) {
  std::vector<SparseTableReport> out;
  const size_t n = std::min<size_t>(in.size(), kMaxSparseTableReports);
  for (size_t i = 0; i < n; ++i) {
    auto r = in[i];
    out.push_back({r.getTable().cStr(), r.getRows(), r.getBytes(), r.getRawBytesPerRow(),
                   r.getAdmitted(), r.getEvicted(), r.getUnadmittedUpdates(), r.getChangedRows()});
  }
  return out;
}

}  // namespace pst
