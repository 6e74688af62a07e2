// The accounting of one sparse table on one PS shard, as it travels from the
// PS (heartbeats) through the scheduler to /status, /metrics, the dashboard
// and `pstrain status`: one plain struct and its one wire conversion.
// Pure functions; thread-compatible; nothing throws except capnp builders
// and readers themselves (callers already catch kj::Exception).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "proto/scheduler.capnp.h"

namespace pst {

struct SparseTableReport {
  std::string table;
  uint64_t rows = 0;                // live rows
  uint64_t bytes = 0;               // memory the table holds (allocated)
  uint64_t raw_bytes_per_row = 0;   // id + row + optimizer state
  uint64_t admitted = 0;            // rows created (cumulative)
  uint64_t evicted = 0;             // rows dropped by eviction (cumulative)
  uint64_t unadmitted_updates = 0;  // updates dropped while an id waited for admission
  uint64_t changed_rows = 0;        // rows written since the last checkpoint capture

  bool operator==(const SparseTableReport&) const = default;
};

// At most this many reports are read from one message (the rest are ignored).
inline constexpr size_t kMaxSparseTableReports = 4096;

void ToProto(const std::vector<SparseTableReport>& reports,
             capnp::List<proto::SparseTableStatus>::Builder out);
std::vector<SparseTableReport> FromProto(capnp::List<proto::SparseTableStatus>::Reader in);

}  // namespace pst
