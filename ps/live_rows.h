// pst::LiveRows: the rows one sparse table's checkpoint stores, read by the
// checkpoint writer from the table's own chunks (ps/sparse_table.h),
// copy-on-write per chunk (ps/copy_on_write.h): a chunk is copied only if a
// push, a new row or an eviction is about to change it before the writer
// has read it. So a full checkpoint of a large table needs no second copy of
// the table, and the rows stored are still exactly those at the capture.
//
// The rows are those of the first `records` records: every live one (a full
// checkpoint) or those whose bit is set in `selected` (an increment: the
// table's changed-row bitmap at the capture), in record order, which is the
// order SparseTable::TakeChanges copies them in.
//
// Thread-safety: as CopyOnWrite (the table's thread marks, changes and
// detaches; one reader thread reads and closes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "common/status.h"
#include "ps/copy_on_write.h"

namespace pst {

class LiveRows {
 public:
  // Where one chunk's first `records` records live (owned by the table).
  struct Chunk {
    const uint64_t* ids = nullptr;
    const uint32_t* last_steps = nullptr;  // free_step for a free record
    const float* data = nullptr;           // records * stride floats
    uint32_t records = 0;
  };
  // `rows`: how many rows the selection holds (the manifest's count).
  // `selected`: one bit per record, or empty for every live record (a record
  // is free when its last step is `free_step`).
  LiveRows(std::vector<Chunk> chunks, uint32_t chunk_rows, size_t stride, uint32_t free_step,
           std::vector<uint64_t> selected, uint64_t rows);
  LiveRows(const LiveRows&) = delete;
  LiveRows& operator=(const LiveRows&) = delete;

  uint64_t rows() const { return rows_; }
  size_t stride() const { return stride_; }

  // Table's thread: record r is about to change (copies its chunk first
  // unless the reader has it already); a no-op for records past the capture.
  void BeforeChange(uint32_t record) {
    const size_t c = record / chunk_rows_;
    if (c < cow_.size()) cow_.BeforeChange(c);
  }
  // Table's thread: copies every chunk not read yet.
  void Detach() { cow_.Detach(); }

  // Reader: calls fn(id, last_step, row and state) for every selected row in
  // record order, one chunk at a time; `fn` runs while the table's thread may
  // wait for that chunk, so it should only copy. Stops at fn's first error.
  // Then calls chunk_done() after each chunk (outside it). kFailedPrecondition
  // if read before.
  Status ForEachRow(const std::function<Status(uint64_t, uint32_t, const float*)>& fn,
                    const std::function<Status()>& chunk_done);
  // Reader: no more reads; the table stops copying.
  void Close() { cow_.Close(); }
  bool closed() const { return cow_.closed(); }

  CopyOnWrite::Stats stats() const { return cow_.stats(); }

 private:
  std::vector<uint32_t> records_;  // per chunk
  uint32_t chunk_rows_;
  size_t stride_;
  uint32_t free_step_;
  std::vector<uint64_t> selected_;
  uint64_t rows_;
  CopyOnWrite cow_;
};

}  // namespace pst
