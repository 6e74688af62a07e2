// One sparse embedding table on one PS shard: uint64 id -> a row of dim floats
// with its optimizer state beside it.
//
// Layout (why it is compact): rows live in an arena of fixed-size chunks of
// kChunkRows records; a record is [row | optimizer state] (contiguous floats,
// so an update touches one span), with the id and the step of its last update
// in parallel arrays of the chunk. An open-addressing index (linear probing,
// power-of-two buckets of {32-bit hash, 32-bit record number}, at most 3/4
// full, backward-shift deletion so no tombstones) maps ids to records; growing
// it rehashes from the stored hashes without touching the arena. Evicted
// records go to a free list and are reused. Overhead per row is the id (8 B),
// its last-update step (4 B) and 8 B / load-factor of index: ~1.15x the raw
// key + row + state bytes for dim 16 with Adagrad (std::unordered_map of
// vectors: ~5x).
//
// Semantics: a row is created by the first push that touches it (with
// admission: by the push that brings its sighting count to admit_after),
// initialised by InitRow(options.init, id) and the optimizer's InitState. A
// pull never creates a row: an absent row reads as its initial values (with
// admission: as zeros). Eviction drops rows whose last update is
// evict_after_steps or more steps old; a dropped row comes back as a new row.
//
// Checkpoints (ps/sparse_checkpoint.h): the table remembers which rows were
// written since the last TakeChanges (one bit per record, set by every update,
// creation and PutRow) and the ids evicted since then, so an incremental
// checkpoint stores only those. A live capture (TakeChanges with `live`)
// copies no rows: the checkpoint writer reads them from the table's chunks
// (ps/live_rows.h), and a chunk is copied only before the table changes it.
//
// Not thread-safe: the PS serialises all calls on a table; only the LiveRows
// it hands out may be read by another thread meanwhile.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "ps/admission_sketch.h"
#include "ps/live_rows.h"
#include "ps/sparse_checkpoint.h"
#include "ps/sparse_optimizer.h"
#include "ps/sparse_row_init.h"

namespace pst {

inline constexpr uint32_t kMaxSparseDim = 4096;
// Record numbers are 32-bit with one value reserved.
inline constexpr uint64_t kMaxSparseRows = (uint64_t{1} << 32) - 2;

struct SparseTableOptions {
  // The table's name as workers and job files give it (non-empty). Default: none.
  std::string name;
  // Floats per row, in [1, kMaxSparseDim]. Default: 16.
  uint32_t dim = 16;
  // Initial values of new rows. Default: uniform in [-0.01, 0.01), seed 1.
  RowInit init;
  // Per-row optimizer and its parameters. Default: adagrad with its defaults.
  SparseOptimizerConfig optimizer;
  // Admission: a row is created by the push that makes its id's (approximate,
  // see AdmissionSketch) sighting count reach this; before that the id reads
  // as zeros and its updates are dropped. 0 or 1 = every id is admitted at its
  // first push. At most AdmissionSketch::kMaxCount. Default: 0.
  uint32_t admit_after = 0;
  // Counters per row of the admission sketch (power of two; the sketch takes
  // 4 bytes per unit of width). Only used when admit_after >= 2. Default: 2^20.
  uint32_t admission_sketch_width = uint32_t{1} << 20;
  // Eviction: Evict(now) drops rows last updated at a step <= now - this.
  // 0 = never evict. Default: 0.
  uint64_t evict_after_steps = 0;
  // Hard bound on rows; a push that would create more is refused whole.
  // 0 = kMaxSparseRows. Default: 0.
  uint64_t max_rows = 0;
};

// kInvalidArgument naming the field for any option out of range (including
// the optimizer's name and parameters).
Status ValidateSparseTableOptions(const SparseTableOptions& options);

struct SparseTableStats {
  uint64_t rows = 0;                // live rows
  uint64_t bytes = 0;               // memory the table holds (allocated, not just used)
  uint64_t raw_bytes_per_row = 0;   // 8 (id) + 4 * (dim + state floats)
  uint64_t admitted = 0;            // rows created since Create (also by PutRow)
  uint64_t evicted = 0;             // rows dropped by Evict
  uint64_t unadmitted_updates = 0;  // row updates dropped while an id waited for admission
  uint64_t changed_rows = 0;        // rows written since the last TakeChanges
  uint64_t removed_rows = 0;        // ids evicted since the last TakeChanges
};

class SparseTable {
 public:
  static constexpr uint32_t kChunkShift = 14;
  static constexpr uint32_t kChunkRows = uint32_t{1} << kChunkShift;

  // kInvalidArgument for invalid options (see ValidateSparseTableOptions).
  static StatusOr<std::unique_ptr<SparseTable>> Create(const SparseTableOptions& options);
  SparseTable(const SparseTable&) = delete;
  SparseTable& operator=(const SparseTable&) = delete;
  // Detaches the live captures still being read (they copy what they still need).
  ~SparseTable();

  const SparseTableOptions& options() const { return options_; }
  const std::string& name() const { return options_.name; }
  uint32_t dim() const { return options_.dim; }
  // Floats of optimizer state after each row.
  size_t state_floats() const { return state_floats_; }

  // Writes row ids[i] to out[i * dim, (i + 1) * dim) for every i: the stored
  // row, or for an absent id its initial values (zeros while admission is
  // on). Creates no row. REQUIRES: out holds ids.size() * dim floats.
  void Pull(std::span<const uint64_t> ids, float* out);

  // Applies the optimizer to row ids[i] with gradient grads[i*dim, (i+1)*dim)
  // scaled by grad_scale, creating absent rows (subject to admission), and
  // records `step` as each touched row's last update. An id listed twice is
  // updated twice (callers send unique ids). kResourceExhausted, with nothing
  // applied, if the new rows would take the table past max_rows.
  // REQUIRES: grads holds ids.size() * dim floats.
  Status Push(std::span<const uint64_t> ids, const float* grads, float grad_scale, uint64_t step);

  // Drops every row last updated at a step <= now - evict_after_steps and
  // returns how many; 0 when eviction is off. Costs one pass over the rows, so
  // callers run it every few steps, not every push.
  uint64_t Evict(uint64_t now);

  // For checkpoints: calls fn(id, row_and_state, last_step) for every live
  // row, in no particular order; row_and_state holds dim + state_floats()
  // floats. fn must not call into the table.
  void ForEachRow(const std::function<void(uint64_t, const float*, uint64_t)>& fn) const;
  // The stored row and state of id, or nullptr. Valid until the next call that
  // changes the table.
  const float* FindRow(uint64_t id) const;
  // Stores row_and_state (dim + state_floats() floats) as id's row, creating
  // it if absent (restore). kResourceExhausted past max_rows.
  Status PutRow(uint64_t id, const float* row_and_state, uint64_t last_step);

  // Checkpoint capture: the rows written since the last TakeChanges (all
  // live rows if `full`), the ids evicted since then (none if `full`) and the
  // admission sketch; starts tracking changes afresh. *manifest gets the
  // table's description (name, dim, counts, counters; version is left to the
  // caller). The rows are copied (one bit test per record plus the copy), or
  // with `live` handed over as SparseRowsDelta::live, copied per chunk only
  // before this table changes that chunk, until the reader closes it.
  SparseRowsDelta TakeChanges(bool full, SparseTableManifest* manifest, bool live = false);
  // Forgets the changes tracked so far (after a restore: the table equals the
  // checkpoint it was restored from).
  void ForgetChanges();
  // Restore: sizes the index for `rows` rows at once (a restore of a large
  // table then rehashes nothing as PutRow fills it), up to max_rows and
  // 3 * 2^23 rows. Never shrinks it.
  void Reserve(uint64_t rows);
  // Restore: drops id's row if present (no counter changes); returns whether
  // it was present.
  bool DropRow(uint64_t id);
  // Restore: replaces the admission sketch's state with `bytes` (see
  // AdmissionSketch::Load). kDataLoss if the table has no sketch and bytes is
  // not empty, or the bytes do not fit; OK for empty bytes on a table without one.
  Status LoadSketch(std::string_view bytes);
  // Restore: sets the admitted / evicted / unadmitted-update counters.
  void SetCounters(uint64_t admitted, uint64_t evicted, uint64_t unadmitted_updates);

  SparseTableStats stats() const;

 private:
  struct Bucket {
    uint32_t hash;
    uint32_t record;  // kNoRecord when the bucket is empty
  };
  struct Chunk {
    std::unique_ptr<uint64_t[]> ids;
    std::unique_ptr<uint32_t[]> last_step;  // kFreeRecord for a record on the free list
    std::unique_ptr<float[]> data;          // kChunkRows records of stride_ floats
  };
  static constexpr uint32_t kNoRecord = UINT32_MAX;
  static constexpr uint32_t kFreeRecord = UINT32_MAX;

  SparseTable(SparseTableOptions options, std::unique_ptr<SparseRowOptimizer> optimizer,
              std::unique_ptr<AdmissionSketch> sketch);

  static uint32_t IndexHash(uint64_t id);
  uint64_t& IdOf(uint32_t r) const { return chunks_[r >> kChunkShift].ids[r & (kChunkRows - 1)]; }
  uint32_t& LastOf(uint32_t r) const {
    return chunks_[r >> kChunkShift].last_step[r & (kChunkRows - 1)];
  }
  float* DataOf(uint32_t r) const {
    return chunks_[r >> kChunkShift].data.get() + size_t(r & (kChunkRows - 1)) * stride_;
  }
  // Bucket position holding id, or SIZE_MAX.
  size_t FindBucket(uint64_t id, uint32_t hash) const;
  // Fills hashes_ and records_ (kNoRecord if absent) for ids, prefetching ahead.
  void LookUp(std::span<const uint64_t> ids);
  // Creates id's record (initial row and state) and indexes it. REQUIRES: id absent.
  uint32_t CreateRow(uint64_t id, uint32_t hash);
  // CreateRow without writing the row and state (the caller does).
  uint32_t AddRecord(uint64_t id, uint32_t hash);
  uint32_t AllocateRecord();
  void InsertBucket(uint32_t hash, uint32_t record);
  void EraseBucket(size_t pos);
  void GrowIndex();
  // Re-inserts every bucket into a fresh index of `capacity` (a power of two
  // holding the rows at most 3/4 full).
  void RebuildIndex(uint64_t capacity);
  void MarkChanged(uint32_t r) {
    uint64_t& word = changed_[r >> 6];
    const uint64_t bit = uint64_t{1} << (r & 63);
    changed_rows_ += (word & bit) == 0;
    word |= bit;
  }
  void ClearChanged(uint32_t r) {
    uint64_t& word = changed_[r >> 6];
    const uint64_t bit = uint64_t{1} << (r & 63);
    changed_rows_ -= (word & bit) != 0;
    word &= ~bit;
  }
  // Unindexes record r (its bucket), puts it on the free list.
  void FreeRecord(uint32_t r);
  // Record r is about to change: live captures still reading it copy its chunk.
  void BeforeChange(uint32_t r) {
    if (!reading_.empty()) BeforeChangeSlow(r);
  }
  void BeforeChangeSlow(uint32_t r);
  std::shared_ptr<LiveRows> CaptureLive(bool full);

  SparseTableOptions options_;
  std::unique_ptr<SparseRowOptimizer> optimizer_;
  std::unique_ptr<AdmissionSketch> sketch_;  // null unless admit_after >= 2
  size_t state_floats_;
  size_t stride_;  // dim + state_floats_
  uint64_t max_rows_;

  std::unique_ptr<Bucket[]> buckets_;
  uint64_t capacity_ = 0;  // power of two
  std::vector<Chunk> chunks_;
  uint32_t used_records_ = 0;  // records ever handed out (high-water mark)
  std::vector<uint32_t> free_records_;
  uint64_t rows_ = 0;

  std::vector<uint32_t> records_;  // scratch of LookUp (record or kNoRecord per id)
  std::vector<uint32_t> hashes_;   // scratch of LookUp (IndexHash per id)

  uint64_t admitted_ = 0;
  uint64_t evicted_ = 0;
  uint64_t unadmitted_updates_ = 0;

  std::vector<uint64_t> changed_;  // one bit per record: written since TakeChanges
  uint64_t changed_rows_ = 0;      // bits set in changed_
  std::vector<uint64_t> removed_;  // ids evicted since TakeChanges
  // Live captures handed out, while their reader (or a capture dropped
  // unwritten) still holds them and has not closed them.
  std::vector<std::weak_ptr<LiveRows>> reading_;
};

}  // namespace pst
