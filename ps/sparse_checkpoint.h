// What a checkpoint holds of one sparse table (plain structs, no behaviour
// beyond validation; ps/param_store.h stores them, ps/sparse_table.h fills
// and replays them).
//
// Sparse tables checkpoint incrementally. A checkpoint either holds every row
// of every sparse table of the shard (a *full* one, sparse_parent == 0) or
// only what changed since its parent checkpoint (an *increment*): the rows
// written or created since the parent was captured, and the ids of rows
// evicted since then (tombstones). The rows of checkpoint C are those of the
// chain base (the full checkpoint C's parents lead to) with every increment up
// to C applied in order, each increment's tombstones before its rows (a row
// evicted and created again within one interval ends up present).
//
// The admission sketch (ps/admission_sketch.h) is not incremental: every
// checkpoint holds the whole sketch of the tables that have one (4 bytes per
// unit of width, 4 MiB by default), so a restored table admits ids exactly
// when the original would have.
//
// Thread-compatible plain data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace pst {

class LiveRows;

// A checkpoint's description of one sparse table (kept in its manifest).
struct SparseTableManifest {
  std::string name;
  uint32_t dim = 0;
  uint32_t state_floats = 0;  // optimizer state floats after each row's dim values
  uint64_t version = 0;       // the table's version (clocks applied) at the capture
  uint64_t rows = 0;          // live rows once this checkpoint is applied
  uint64_t changed = 0;       // rows stored in this checkpoint
  uint64_t removed = 0;       // tombstones stored in this checkpoint
  // The table's counters at the capture (SparseTableStats), so a restored
  // table's counters continue from them.
  uint64_t admitted = 0;
  uint64_t evicted = 0;
  uint64_t unadmitted_updates = 0;

  uint64_t stride() const { return uint64_t{dim} + state_floats; }
  bool operator==(const SparseTableManifest&) const = default;
};

// The rows one checkpoint stores for one table: copied into ids, last_steps
// and data, or (a PS's capture) read from the live table by the writer
// (`live`, ps/live_rows.h; ids, last_steps and data are then empty).
struct SparseRowsDelta {
  std::vector<uint64_t> ids;         // rows stored (written or created since the parent)
  std::vector<uint32_t> last_steps;  // per id: the step of its last update
  std::vector<float> data;           // per id: dim values then state_floats of state
  std::vector<uint64_t> removed;     // tombstones (empty in a full checkpoint)
  std::string sketch;                // AdmissionSketch::Serialize(); empty without admission
  std::shared_ptr<LiveRows> live;    // the rows, read in place (or null)

  // Rows stored, copied or live.
  uint64_t row_count() const;
  // Reads the live rows (if any) into ids, last_steps and data, and closes
  // them. kFailedPrecondition if they were read before.
  Status Materialize();

  bool operator==(const SparseRowsDelta&) const = default;  // float ==
};

// The most increments a chain may hold before a full checkpoint; a store
// refuses longer chains (so a restore reads a bounded number of checkpoints).
inline constexpr uint32_t kMaxSparseChain = 64;

// OK if `rows` match `tables` one to one: the counts of ids, last steps,
// floats (ids * stride) and tombstones agree with changed/removed, names are
// non-empty and distinct, dims non-zero, rows >= 0; a full checkpoint
// (`full`) has no tombstones. Otherwise kInvalidArgument naming the table.
// One stored piece of a checkpoint chain, as ParamStore::ReadSparseChain
// hands it over: tombstones (`rows.removed`), rows (`rows.ids`, `last_steps`,
// `data`) or the admission sketch (`rows.sketch`, only the target
// checkpoint's) of table number `table` of the target checkpoint's
// sparse_tables.
struct SparseChainPiece {
  uint64_t checkpoint_id = 0;
  size_t table = 0;
  SparseRowsDelta rows;
};
using SparseChainFn = std::function<Status(const SparseChainPiece&)>;

Status ValidateSparseRows(const std::vector<SparseTableManifest>& tables,
                          const std::vector<SparseRowsDelta>& rows, bool full);

}  // namespace pst
