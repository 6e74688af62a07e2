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
// Each block goes through: live -> (reading -> done) or (copying -> copied ->
// done). Read waits while the shard copies that block; BeforeChange waits
// while the writer reads it (a block's encoding, well under a millisecond).
// A block is handed to the reader once; its copy is freed once read.
//
// Lifetime: the marked memory belongs to the shard; before it is freed or
// overwritten other than through BeforeChange (shard destroyed, restored),
// the shard calls Detach, which copies every block not read yet.
//
// Thread-safety: Mark, BeforeChange and Detach are called by the shard's
// thread; Read, keys, size and Close by one reader thread, concurrently with
// them. Marking must be complete before the source is handed to the reader.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "ps/block_source.h"

namespace pst {

class LiveCapture final : public BlockSource {
 public:
  // Where a marked block's state lives (owned by the shard).
  struct LiveBlock {
    KeyRange keys;
    uint64_t version = 0;
    uint64_t optimizer_steps = 0;
    const float* values = nullptr;      // keys.size() floats
    std::vector<const float*> slots;  // each keys.size() floats
  };
  // What the copy-on-write cost, so far.
  struct Stats {
    uint64_t blocks_copied = 0;
    uint64_t bytes_copied = 0;
    double copy_ms = 0;  // time the shard's thread spent copying (and waiting)
  };

  explicit LiveCapture(size_t num_blocks);
  LiveCapture(const LiveCapture&) = delete;
  LiveCapture& operator=(const LiveCapture&) = delete;

  // Shard's thread: block i is in its state at the round's clock, at `live`.
  // REQUIRES: i < size(), not marked before, before the reader starts.
  void Mark(size_t i, LiveBlock live);
  bool marked(size_t i) const { return marked_[i] != 0; }
  // Shard's thread: block i's memory is about to change. Copies it first
  // unless the reader has it already (waits while the reader reads it). A
  // no-op for an unmarked block and after Close.
  void BeforeChange(size_t i);
  // Shard's thread: copies every block not read yet (the memory goes away).
  void Detach();

  size_t size() const override { return blocks_.size(); }
  KeyRange keys(size_t i) const override { return blocks_[i].keys; }
  // Reader thread: fn sees block i's state at the round's clock (live memory,
  // or the copy, which is freed after fn). kFailedPrecondition if block i was
  // not marked or was read before.
  Status Read(size_t i, const VisitFn& fn) override;
  // Reader thread: no more reads; the shard stops copying.
  void Close() override;
  bool closed() const { return closed_.load(std::memory_order_acquire); }

  Stats stats() const;

 private:
  enum State : uint8_t { kLive, kReading, kCopying, kCopied, kDone };
  void CopyBlock(size_t i);

  std::vector<LiveBlock> blocks_;      // written by Mark only
  std::vector<uint8_t> marked_;        // shard's thread only
  std::unique_ptr<std::atomic<uint8_t>[]> state_;
  std::vector<BlockState> copies_;  // copies_[i]: the shard's until kCopied, the reader's after
  std::atomic<bool> closed_{false};
  std::atomic<uint64_t> blocks_copied_{0};
  std::atomic<uint64_t> bytes_copied_{0};
  std::atomic<int64_t> copy_ns_{0};
};

}  // namespace pst
