// Contiguous ranges of global parameter keys and how they are split across PS
// shards and into transfer chunks.
#pragma once

#include <cstdint>
#include <vector>

namespace pst {

struct KeyRange {
  uint64_t begin = 0;
  uint64_t end = 0;  // exclusive
  uint64_t size() const { return end - begin; }
  bool empty() const { return end <= begin; }
  bool Contains(const KeyRange& r) const { return begin <= r.begin && r.end <= end; }
  bool operator==(const KeyRange&) const = default;
};

// Splits [0, total) into `parts` contiguous ranges, in order, whose sizes differ
// by at most one (the first total % parts ranges get the extra key).
// REQUIRES: parts >= 1.
std::vector<KeyRange> PartitionKeys(uint64_t total, uint32_t parts);

// The overlap of a and b (empty if none).
KeyRange Intersect(const KeyRange& a, const KeyRange& b);

// Splits r into consecutive chunks of at most max_chunk keys (one chunk if r is
// empty or max_chunk == 0).
std::vector<KeyRange> SplitIntoChunks(const KeyRange& r, uint64_t max_chunk);

}  // namespace pst
