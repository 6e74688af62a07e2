#include "common/slot_map.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <set>
#include <vector>

#include "common/hash.h"

namespace pst {
namespace {

TEST_CASE("SlotOfId: values are fixed forever (persisted partitions depend on them)", "[common]") {
  // Golden values (also computed by an independent Python splitmix64): if this fails, SlotOfId changed and every job's existing
  // sparse checkpoints would land on the wrong shards after an upgrade.
  CHECK(SlotOfId(0, 4096) == 3873);
  CHECK(SlotOfId(1, 4096) == 760);
  CHECK(SlotOfId(42, 4096) == 2440);
  CHECK(SlotOfId(0xffffffffffffffffull, 4096) == 1886);
  CHECK(SlotOfId(123456789, 1000) == 899);
}

TEST_CASE("SlotOfId: consecutive and strided ids spread evenly over the slots", "[common]") {
  constexpr uint32_t kSlots = 4096;
  constexpr uint64_t kIds = 4096 * 200;
  for (uint64_t stride : {uint64_t{1}, uint64_t{4096}, uint64_t{1} << 32}) {
    std::vector<uint32_t> count(kSlots);
    for (uint64_t i = 0; i < kIds; ++i) {
      const uint32_t s = SlotOfId(i * stride, kSlots);
      REQUIRE(s < kSlots);
      ++count[s];
    }
    // Mean 200 per slot; a binomial's 6-sigma band is about +-85.
    const auto [lo, hi] = std::minmax_element(count.begin(), count.end());
    INFO("stride " << stride);
    CHECK(*lo > 115);
    CHECK(*hi < 285);
  }
}

TEST_CASE("SlotMap::Even: contiguous slot runs whose sizes differ by at most one", "[common]") {
  auto map = SlotMap::Even(4096, 3);
  REQUIRE(map.ok());
  const std::vector<uint32_t> counts = map->SlotCounts();
  CHECK(*std::max_element(counts.begin(), counts.end()) -
            *std::min_element(counts.begin(), counts.end()) <=
        1);
  for (uint32_t s = 1; s < 4096; ++s) CHECK(map->ShardOfSlot(s) >= map->ShardOfSlot(s - 1));
  CHECK(map->ShardOfId(77) == map->ShardOfSlot(SlotOfId(77, 4096)));
  CHECK_FALSE(SlotMap::Even(4096, 0).ok());
  CHECK_FALSE(SlotMap::Even(2, 3).ok());
  CHECK_FALSE(SlotMap::Even(kMaxSparseSlots + 1, 1).ok());
}

TEST_CASE("SlotMap::FromAssignment rejects shards out of range", "[common]") {
  CHECK(SlotMap::FromAssignment({0, 1, 1, 0}, 2).ok());
  CHECK_FALSE(SlotMap::FromAssignment({0, 2}, 2).ok());
  CHECK_FALSE(SlotMap::FromAssignment({}, 2).ok());
  CHECK_FALSE(SlotMap::FromAssignment({0}, 0).ok());
}

TEST_CASE("SlotMap::MoveSlot moves exactly the ids of that slot", "[common]") {
  auto map = SlotMap::Even(64, 2);
  REQUIRE(map.ok());
  SlotMap before = *map;
  const uint32_t moved = 5;
  REQUIRE(map->ShardOfSlot(moved) == 0);
  REQUIRE(map->MoveSlot(moved, 1).ok());
  for (uint64_t id = 0; id < 20000; ++id) {
    const bool in_moved = SlotOfId(id, 64) == moved;
    if (in_moved) {
      CHECK(map->ShardOfId(id) == 1);
    } else {
      CHECK(map->ShardOfId(id) == before.ShardOfId(id));
    }
  }
  CHECK_FALSE(map->MoveSlot(64, 0).ok());
  CHECK_FALSE(map->MoveSlot(0, 2).ok());
}

TEST_CASE("SlotMap::AddShard: only ids that move go to the new shard, a fair share of them",
          "[common]") {
  auto map = SlotMap::Even(4096, 3);
  REQUIRE(map.ok());
  const SlotMap before = *map;
  auto moved = map->AddShard();
  REQUIRE(moved.ok());
  CHECK(map->num_shards() == 4);
  CHECK(moved->size() == 1024);
  const std::vector<uint32_t> counts = map->SlotCounts();
  for (uint32_t c : counts) CHECK(c == 1024);
  uint64_t changed = 0;
  constexpr uint64_t kIds = 400000;
  for (uint64_t i = 0; i < kIds; ++i) {
    const uint64_t id = Mix64(i);
    if (map->ShardOfId(id) != before.ShardOfId(id)) {
      ++changed;
      CHECK(map->ShardOfId(id) == 3);
    }
  }
  // A quarter of the ids move (binomial, sd ~ 0.0007).
  CHECK(double(changed) / kIds == Approx(0.25).margin(0.01));
  auto tiny = SlotMap::Even(2, 2);
  REQUIRE(tiny.ok());
  CHECK_FALSE(tiny->AddShard().ok());
}

}  // namespace
}  // namespace pst
