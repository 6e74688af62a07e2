// How sparse embedding ids are partitioned across PS shards: an id maps by a
// fixed, stable hash to one of num_slots virtual slots (SlotOfId), and each slot
// to a shard (SlotMap). The scheduler owns the SlotMap of a job; moving a slot to
// another shard (PS scale-out, rebalancing) moves exactly the ids of that slot
// and never rehashes any id. Values, thread-compatible.
#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"

namespace pst {

// Virtual slots per job unless configured otherwise; a slot is the unit that
// moves between shards, so this bounds how finely a table can be rebalanced.
inline constexpr uint32_t kDefaultSparseSlots = 4096;
// Largest accepted slot count (the slot map travels in messages).
inline constexpr uint32_t kMaxSparseSlots = uint32_t{1} << 20;

// The virtual slot of `id` among num_slots: depends only on (id, num_slots),
// is the same on every machine and in every release (see common/hash.h), and
// spreads consecutive and skewed ids evenly. REQUIRES: num_slots >= 1.
uint32_t SlotOfId(uint64_t id, uint32_t num_slots);

class SlotMap {
 public:
  // Slot s goes to shard floor(s * num_shards / num_slots): contiguous runs of
  // slots whose sizes differ by at most one. kInvalidArgument unless
  // 1 <= num_shards <= num_slots <= kMaxSparseSlots.
  static StatusOr<SlotMap> Even(uint32_t num_slots, uint32_t num_shards);
  // An explicit assignment (shard_of_slot[s] is slot s's shard), e.g. as
  // received from the scheduler. kInvalidArgument if it is empty, longer than
  // kMaxSparseSlots, num_shards is 0, or an entry is >= num_shards.
  static StatusOr<SlotMap> FromAssignment(std::vector<uint32_t> shard_of_slot,
                                          uint32_t num_shards);

  uint32_t num_slots() const { return static_cast<uint32_t>(shard_of_slot_.size()); }
  uint32_t num_shards() const { return num_shards_; }
  // REQUIRES: slot < num_slots().
  uint32_t ShardOfSlot(uint32_t slot) const { return shard_of_slot_[slot]; }
  uint32_t ShardOfId(uint64_t id) const { return shard_of_slot_[SlotOfId(id, num_slots())]; }
  const std::vector<uint32_t>& assignment() const { return shard_of_slot_; }
  // Number of slots each shard holds.
  std::vector<uint32_t> SlotCounts() const;

  // Assigns `slot` to `shard`; every other slot keeps its shard.
  // kInvalidArgument if slot >= num_slots() or shard >= num_shards().
  Status MoveSlot(uint32_t slot, uint32_t shard);
  // Adds shard num_shards() and moves to it floor(num_slots / (num_shards + 1))
  // slots, each taken from the shard holding the most slots at that moment, so
  // the new shard takes its fair share and no other slot moves. Returns the
  // moved slots. kInvalidArgument if there would be more shards than slots.
  StatusOr<std::vector<uint32_t>> AddShard();

 private:
  SlotMap(std::vector<uint32_t> shard_of_slot, uint32_t num_shards)
      : shard_of_slot_(std::move(shard_of_slot)), num_shards_(num_shards) {}
  std::vector<uint32_t> shard_of_slot_;
  uint32_t num_shards_;
};

}  // namespace pst
