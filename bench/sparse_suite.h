// Suite "sparse": the parameter-server side of sparse embedding tables.
//   memory   a table of 10^7 rows x dim 16 with Adagrad state: bytes per row
//            (the table's own accounting, the heap's growth and the process's
//            resident-set growth) against the raw bytes of key + row + state,
//            and a std::unordered_map<uint64_t, std::vector<float>> of 10^6
//            such rows measured the same way as the baseline;
//   pull+push  pull + push of each batch's unique ids against that table,
//            uniform and Zipf(1.1) ids: in process (the table's calls on one
//            thread) and over loopback TCP (pst::SparseClient -> the PS's
//            sparse request handler serving the same table on one thread):
//            ids per second and their ratio.
#pragma once

#include <cstdint>

#include "bench/bench_util.h"
#include "common/status.h"

namespace pst::bench {

struct SparseConfig {
  // Rows in the table. Default: 10^7.
  uint64_t rows = 10'000'000;
  // Floats per row. Default: 16.
  uint32_t dim = 16;
  // Id draws per batch (e.g. 4096 samples x 26 fields); a batch pulls and
  // pushes its unique ids. Default: 106,496.
  uint32_t draws_per_batch = 4096 * 26;
  // Timed batches per id distribution. Default: 30.
  uint32_t batches = 30;
};

// Prints the tables and adds report.json["sparse"] and summary lines.
// kInternal if a table operation fails.
Status RunSparseSuite(const SparseConfig& config, Report& report);

}  // namespace pst::bench
