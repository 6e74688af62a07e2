// pst::LiveCapture: a dense checkpoint read from the shard's live memory,
// copied only where training would change it first (copy-on-write).
//
// At the round's clock the shard marks each block (Mark: its keys, version,
// optimizer steps and where its values and slots live) instead of copying
// it. The checkpoint writer then reads the blocks one by one (Read, on its
// own thread) straight from that memory. Before the shard changes a marked
// block that has not been read yet, it calls BeforeChange: the block's state
// is copied first, and the writer reads the copy. So the extra memory a
// checkpoint needs is the blocks updated before the writer reached them
// (plus one encoded block in the writer), not the whole shard, and the
// checkpoint still holds every block exactly as it was at the round's clock.
//
// The protocol (and its waits) is pst::CopyOnWrite's, one unit per block.
//
// Lifetime: the marked memory belongs to the shard; before it is freed or
// overwritten other than through BeforeChange (shard destroyed, restored),
// the shard calls Detach, which copies every block not read yet.
//
// Thread-safety: Mark, BeforeChange and Detach are called by the shard's
// thread; Read, keys, size and Close by one reader thread, concurrently with
// them. Marking must be complete before the source is handed to the reader.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "ps/block_source.h"
#include "ps/copy_on_write.h"

namespace pst {

class LiveCapture final : public BlockSource {
 public:
  // Where a marked block's state lives (owned by the shard).
  struct LiveBlock {
    KeyRange keys;
    uint64_t version = 0;
    uint64_t optimizer_steps = 0;
    const float* values = nullptr;    // keys.size() floats
    std::vector<const float*> slots;  // each keys.size() floats
  };
  using Stats = CopyOnWrite::Stats;

  explicit LiveCapture(size_t num_blocks) : blocks_(num_blocks), cow_(num_blocks) {}
  LiveCapture(const LiveCapture&) = delete;
  LiveCapture& operator=(const LiveCapture&) = delete;

  // Shard's thread: block i is in its state at the round's clock, at `live`.
  // REQUIRES: i < size(), not marked before, before the reader starts.
  void Mark(size_t i, LiveBlock live);
  bool marked(size_t i) const { return cow_.marked(i); }
  // Shard's thread: block i's memory is about to change (see
  // CopyOnWrite::BeforeChange).
  void BeforeChange(size_t i) { cow_.BeforeChange(i); }
  // Shard's thread: copies every block not read yet (the memory goes away).
  void Detach() { cow_.Detach(); }

  size_t size() const override { return blocks_.size(); }
  KeyRange keys(size_t i) const override { return blocks_[i].keys; }
  // Reader thread: fn sees block i's state at the round's clock (live memory,
  // or the copy, which is freed after fn). kFailedPrecondition if block i was
  // not marked or was read before.
  Status Read(size_t i, const VisitFn& fn) override;
  // Reader thread: no more reads; the shard stops copying.
  void Close() override { cow_.Close(); }
  bool closed() const { return cow_.closed(); }

  Stats stats() const { return cow_.stats(); }

 private:
  std::vector<LiveBlock> blocks_;  // written by Mark only
  CopyOnWrite cow_;
};

}  // namespace pst
