#include "common/key_range.h"

#include <algorithm>

namespace pst {

std::vector<KeyRange> PartitionKeys(uint64_t total, uint32_t parts) {
  std::vector<KeyRange> out;
  out.reserve(parts);
  const uint64_t base = total / parts, extra = total % parts;
  uint64_t begin = 0;
  for (uint32_t i = 0; i < parts; ++i) {
    const uint64_t size = base + (i < extra ? 1 : 0);
    out.push_back({begin, begin + size});
    begin += size;
  }
  return out;
}

KeyRange Intersect(const KeyRange& a, const KeyRange& b) {
  const uint64_t lo = std::max(a.begin, b.begin), hi = std::min(a.end, b.end);
  return lo < hi ? KeyRange{lo, hi} : KeyRange{lo, lo};
}

std::vector<KeyRange> SplitIntoChunks(const KeyRange& r, uint64_t max_chunk) {
  if (r.empty() || max_chunk == 0) return {r};
  std::vector<KeyRange> out;
  for (uint64_t b = r.begin; b < r.end; b += max_chunk) out.push_back({b, std::min(r.end, b + max_chunk)});
  return out;
}

}  // namespace pst
