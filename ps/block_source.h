// pst::BlockSource: the dense blocks of one checkpoint as a ParamStore writes
// them, one block at a time, so a writer never needs the whole shard's state
// copied at once (see ps/live_capture.h, which reads blocks from the live
// shard and copies only those training is about to change).
//
// A BlockView points at one block's floats for the duration of a callback.
// VectorBlockSource serves blocks already held in memory (tests, tools).
//
// Thread-safety: see each implementation. Nothing throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <utility>
#include <vector>

#include "common/key_range.h"
#include "common/status.h"

namespace pst {

// One block of a shard: its values and the optimizer slots beside them.
struct BlockState {
  KeyRange keys;
  uint64_t version = 0;          // clocks/updates applied to the block
  uint64_t optimizer_steps = 0;  // optimizer steps taken (LR schedule position)
  std::vector<float> values;     // keys.size() floats
  // One vector of keys.size() floats per slot, in the order of
  // CheckpointManifest::slot_names (Optimizer::SlotNames()).
  std::vector<std::vector<float>> slots;

  bool operator==(const BlockState&) const = default;  // float ==, not bit-exact
};

// One block's state, borrowed: valid only inside the callback it is given to.
struct BlockView {
  KeyRange keys;
  uint64_t version = 0;
  uint64_t optimizer_steps = 0;
  std::span<const float> values;
  std::vector<std::span<const float>> slots;  // one per optimizer slot

  static BlockView Of(const BlockState& b);
  // A copy that owns its floats.
  BlockState ToState() const;
};

class BlockSource {
 public:
  using VisitFn = std::function<Status(const BlockView&)>;
  virtual ~BlockSource() = default;

  // Number of blocks.
  virtual size_t size() const = 0;
  // Keys of block i (known before it is read). REQUIRES: i < size().
  virtual KeyRange keys(size_t i) const = 0;
  // Calls fn with block i's state and returns what fn returns. A source may
  // hand out each block only once (ps/live_capture.h): kFailedPrecondition
  // for a second read then. REQUIRES: i < size().
  virtual Status Read(size_t i, const VisitFn& fn) = 0;
  // The consumer is done with the source, whether or not it read every block.
  virtual void Close() {}

  // Reads every block into owned BlockStates, in order (does not Close).
  StatusOr<std::vector<BlockState>> ReadAll();
};

// Blocks held in memory, owned or borrowed (which must outlive the source);
// any block may be read any number of times. Thread-compatible.
class VectorBlockSource final : public BlockSource {
 public:
  explicit VectorBlockSource(std::vector<BlockState> owned)
      : owned_(std::move(owned)), blocks_(&owned_) {}
  explicit VectorBlockSource(const std::vector<BlockState>* borrowed) : blocks_(borrowed) {}
  size_t size() const override { return blocks_->size(); }
  KeyRange keys(size_t i) const override { return (*blocks_)[i].keys; }
  Status Read(size_t i, const VisitFn& fn) override { return fn(BlockView::Of((*blocks_)[i])); }

 private:
  std::vector<BlockState> owned_;
  const std::vector<BlockState>* blocks_;
};

}  // namespace pst
