#include "common/key_range.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <vector>

namespace pst {
namespace {

// Checks PartitionKeys(total, parts) against its contract.
void CheckPartition(uint64_t total, uint32_t parts) {
  CAPTURE(total, parts);
  const std::vector<KeyRange> r = PartitionKeys(total, parts);
  REQUIRE(r.size() == parts);
  uint64_t next = 0;
  uint64_t min_size = UINT64_MAX, max_size = 0;
  for (uint32_t i = 0; i < parts; ++i) {
    CAPTURE(i);
    CHECK(r[i].begin == next);
    REQUIRE(r[i].end >= r[i].begin);
    next = r[i].end;
    min_size = std::min(min_size, r[i].size());
    max_size = std::max(max_size, r[i].size());
    // The first total % parts ranges get the extra key.
    CHECK(r[i].size() == total / parts + (i < total % parts ? 1 : 0));
  }
  CHECK(next == total);
  CHECK(max_size - min_size <= 1);
}

TEST_CASE("PartitionKeys: contiguous covering and balanced", "[common]") {
  const uint64_t totals[] = {0, 1, 2, 3, 5, 7, 10, 99, 100, 101, 1000, 101770, 1ull << 32};
  const uint32_t parts[] = {1, 2, 3, 4, 7, 8, 16, 100, 256};
  for (uint64_t t : totals)
    for (uint32_t p : parts) CheckPartition(t, p);
  for (uint64_t t = 0; t < 40; ++t)
    for (uint32_t p = 1; p < 12; ++p) CheckPartition(t, p);
}

TEST_CASE("PartitionKeys: exact ranges for small cases", "[common]") {
  CHECK(PartitionKeys(10, 3) == std::vector<KeyRange>{{0, 4}, {4, 7}, {7, 10}});
  CHECK(PartitionKeys(10, 1) == std::vector<KeyRange>{{0, 10}});
  // Fewer keys than parts: the tail ranges are empty but still in order.
  CHECK(PartitionKeys(2, 4) == std::vector<KeyRange>{{0, 1}, {1, 2}, {2, 2}, {2, 2}});
  CHECK(PartitionKeys(0, 3) == std::vector<KeyRange>{{0, 0}, {0, 0}, {0, 0}});
  for (const KeyRange& r : PartitionKeys(0, 3)) CHECK(r.empty());
}

TEST_CASE("KeyRange: size empty and Contains", "[common]") {
  const KeyRange r{10, 20};
  CHECK(r.size() == 10);
  CHECK_FALSE(r.empty());
  CHECK(KeyRange{5, 5}.empty());
  CHECK(KeyRange{6, 5}.empty());
  CHECK(r.Contains(r));
  CHECK(r.Contains({10, 11}));
  CHECK(r.Contains({19, 20}));
  CHECK(r.Contains({15, 15}));
  CHECK_FALSE(r.Contains({9, 11}));
  CHECK_FALSE(r.Contains({19, 21}));
  CHECK_FALSE(r.Contains({0, 30}));
}

TEST_CASE("Intersect: overlap or an empty range", "[common]") {
  CHECK(Intersect({0, 10}, {5, 15}) == KeyRange{5, 10});
  CHECK(Intersect({5, 15}, {0, 10}) == KeyRange{5, 10});
  CHECK(Intersect({0, 10}, {2, 3}) == KeyRange{2, 3});
  CHECK(Intersect({2, 3}, {0, 10}) == KeyRange{2, 3});
  CHECK(Intersect({0, 10}, {0, 10}) == KeyRange{0, 10});
  // Touching and disjoint ranges do not overlap.
  CHECK(Intersect({0, 10}, {10, 20}).empty());
  CHECK(Intersect({10, 20}, {0, 10}).empty());
  CHECK(Intersect({0, 5}, {7, 9}).empty());
  CHECK(Intersect({7, 9}, {0, 5}).empty());
  CHECK(Intersect({0, 0}, {0, 10}).empty());
  CHECK(Intersect({3, 3}, {0, 10}).empty());
  // Intersecting with every part of a partition gives back the pieces of r.
  const KeyRange r{37, 812};
  uint64_t covered = 0;
  for (const KeyRange& p : PartitionKeys(1000, 7)) {
    const KeyRange i = Intersect(r, p);
    CHECK((i.empty() || (r.Contains(i) && p.Contains(i))));
    covered += i.empty() ? 0 : i.size();
  }
  CHECK(covered == r.size());
}

TEST_CASE("SplitIntoChunks: exact boundaries", "[common]") {
  CHECK(SplitIntoChunks({0, 10}, 3) == std::vector<KeyRange>{{0, 3}, {3, 6}, {6, 9}, {9, 10}});
  CHECK(SplitIntoChunks({5, 11}, 3) == std::vector<KeyRange>{{5, 8}, {8, 11}});
  CHECK(SplitIntoChunks({5, 11}, 6) == std::vector<KeyRange>{{5, 11}});
  CHECK(SplitIntoChunks({5, 11}, 100) == std::vector<KeyRange>{{5, 11}});
  CHECK(SplitIntoChunks({5, 11}, 1) ==
        std::vector<KeyRange>{{5, 6}, {6, 7}, {7, 8}, {8, 9}, {9, 10}, {10, 11}});
}

TEST_CASE("SplitIntoChunks: empty range and max_chunk 0 give one chunk", "[common]") {
  CHECK(SplitIntoChunks({7, 7}, 3) == std::vector<KeyRange>{{7, 7}});
  CHECK(SplitIntoChunks({0, 0}, 0) == std::vector<KeyRange>{{0, 0}});
  CHECK(SplitIntoChunks({4, 1000}, 0) == std::vector<KeyRange>{{4, 1000}});
}

TEST_CASE("SplitIntoChunks: chunks tile the range for many sizes", "[common]") {
  for (uint64_t begin : {0ull, 1ull, 1000ull}) {
    for (uint64_t len = 1; len < 60; ++len) {
      for (uint64_t max_chunk = 1; max_chunk < 20; ++max_chunk) {
        CAPTURE(begin, len, max_chunk);
        const KeyRange r{begin, begin + len};
        const std::vector<KeyRange> c = SplitIntoChunks(r, max_chunk);
        REQUIRE(c.size() == (len + max_chunk - 1) / max_chunk);
        uint64_t next = r.begin;
        for (size_t i = 0; i < c.size(); ++i) {
          CHECK(c[i].begin == next);
          CHECK(c[i].size() >= 1);
          // All chunks are full except possibly the last.
          if (i + 1 < c.size()) CHECK(c[i].size() == max_chunk);
          CHECK(c[i].size() <= max_chunk);
          next = c[i].end;
        }
        CHECK(next == r.end);
      }
    }
  }
}

}  // namespace
}  // namespace pst
