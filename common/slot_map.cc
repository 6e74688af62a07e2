#include "common/slot_map.h"

#include <algorithm>
#include <string>
#include <utility>

#include "common/hash.h"

namespace pst {
namespace {

// Salt so the slot hash is independent of other uses of Mix64 on ids (a
// table's bucket index, row initialisation): ids of one slot must not cluster
// anywhere else.
constexpr uint64_t kSlotSalt = 0x5107'5107'a11c'e5edull;

}  // namespace

uint32_t SlotOfId(uint64_t id, uint32_t num_slots) {
  return ReduceToRange(Mix64(id ^ kSlotSalt), num_slots);
}

StatusOr<SlotMap> SlotMap::Even(uint32_t num_slots, uint32_t num_shards) {
  if (num_shards == 0 || num_slots < num_shards || num_slots > kMaxSparseSlots) {
    return Status::InvalidArgument("slot map: need 1 <= shards (" + std::to_string(num_shards) +
                                   ") <= slots (" + std::to_string(num_slots) + ") <= " +
                                   std::to_string(kMaxSparseSlots));
  }
  std::vector<uint32_t> shard_of_slot(num_slots);
  for (uint32_t s = 0; s < num_slots; ++s) {
    shard_of_slot[s] = static_cast<uint32_t>(uint64_t{s} * num_shards / num_slots);
  }
  return SlotMap(std::move(shard_of_slot), num_shards);
}

StatusOr<SlotMap> SlotMap::FromAssignment(std::vector<uint32_t> shard_of_slot,
                                          uint32_t num_shards) {
  if (shard_of_slot.empty() || shard_of_slot.size() > kMaxSparseSlots || num_shards == 0) {
    return Status::InvalidArgument("slot map: need 1 to " + std::to_string(kMaxSparseSlots) +
                                   " slots and at least one shard");
  }
  for (size_t s = 0; s < shard_of_slot.size(); ++s) {
    if (shard_of_slot[s] >= num_shards) {
      return Status::InvalidArgument("slot map: slot " + std::to_string(s) + " names shard " +
                                     std::to_string(shard_of_slot[s]) + " of " +
                                     std::to_string(num_shards));
    }
  }
  return SlotMap(std::move(shard_of_slot), num_shards);
}

std::vector<uint32_t> SlotMap::SlotCounts() const {
  std::vector<uint32_t> counts(num_shards_);
  for (uint32_t shard : shard_of_slot_) ++counts[shard];
  return counts;
}

Status SlotMap::MoveSlot(uint32_t slot, uint32_t shard) {
  if (slot >= num_slots() || shard >= num_shards_) {
    return Status::InvalidArgument("slot map: cannot move slot " + std::to_string(slot) +
                                   " to shard " + std::to_string(shard) + " (" +
                                   std::to_string(num_slots()) + " slots, " +
                                   std::to_string(num_shards_) + " shards)");
  }
  shard_of_slot_[slot] = shard;
  return Status::OK();
}

StatusOr<std::vector<uint32_t>> SlotMap::AddShard() {
  if (num_shards_ + 1 > num_slots()) {
    return Status::InvalidArgument("slot map: " + std::to_string(num_slots()) +
                                   " slots cannot feed " + std::to_string(num_shards_ + 1) +
                                   " shards");
  }
  const uint32_t fresh = num_shards_++;
  std::vector<uint32_t> counts = SlotCounts();
  std::vector<uint32_t> moved;
  const uint32_t share = num_slots() / num_shards_;
  while (moved.size() < share) {
    const uint32_t donor =
        static_cast<uint32_t>(std::max_element(counts.begin(), counts.end()) - counts.begin());
    // The donor's last slot (highest index): deterministic, and keeps the
    // donor's remaining slots contiguous when they were.
    for (uint32_t s = num_slots(); s-- > 0;) {
      if (shard_of_slot_[s] != donor) continue;
      shard_of_slot_[s] = fresh;
      --counts[donor];
      ++counts[fresh];
      moved.push_back(s);
      break;
    }
  }
  return moved;
}

}  // namespace pst
