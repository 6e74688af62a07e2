// pst::SparseChain: which sparse checkpoint a PS writes next, full or an
// increment of which parent (see ps/sparse_checkpoint.h), so that restore
// time stays bounded and an increment never builds on changes that were not
// written.
//
// The next checkpoint is full when there is no parent to build on (the first
// one, after a restore from a checkpoint without sparse rows, or once a
// captured increment was lost: dropped before it was written, or its write
// failed), when the chain already holds max_chain increments, or when the
// increments since the full one plus the new one would hold at least as many
// rows as the table has live rows (a restore would then read more than twice
// the table). Otherwise it increments the last captured checkpoint.
//
// Thread-compatible: the PS's serving thread owns it.
#pragma once

#include <cstdint>

namespace pst {

class SparseChain {
 public:
  // max_chain in [1, kMaxSparseChain].
  explicit SparseChain(uint32_t max_chain) : max_chain_(max_chain) {}

  struct Next {
    bool full = true;
    uint64_t parent = 0;  // 0 when full
    uint32_t chain = 0;   // increments from the full checkpoint (0 when full)
  };
  // What the next capture should be, given the rows changed since the last
  // capture and the tables' live rows.
  Next Plan(uint64_t changed_rows, uint64_t live_rows) const;
  // Checkpoint `id` was captured as `next` holding `stored_rows` rows.
  void Captured(uint64_t id, const Next& next, uint64_t stored_rows);
  // Captured changes will not be written (the capture was dropped, or the
  // write of `id` failed: pass it; 0 = whatever was captured last).
  void Lost(uint64_t id = 0);
  // The tables were restored from checkpoint `id`, `chain` increments from
  // its full one (increment_rows: rows its increments hold); id 0 = fresh tables.
  void Restored(uint64_t id, uint32_t chain, uint64_t increment_rows);

 private:
  uint32_t max_chain_;
  uint64_t parent_ = 0;          // last captured (or restored) checkpoint
  uint32_t chain_ = 0;           // its chain length
  uint64_t increment_rows_ = 0;  // rows in the increments since the full one
  bool broken_ = true;           // no parent to build on
};

}  // namespace pst
