// Deduplicates the ids of a batch before they are pulled: each id is pulled
// (and its gradient pushed) once per batch, however often the batch uses it.
// Pure function: thread-safe on distinct outputs.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace pst {

struct UniqueIds {
  // The distinct ids, in increasing order.
  std::vector<uint64_t> ids;
  // For each input position k: ids[slot[k]] is the k-th input id.
  std::vector<uint32_t> slot;

  size_t size() const { return ids.size(); }
};

// Fills *out from `ids` (any order, repeats allowed), reusing its capacity.
// REQUIRES: ids.size() < 2^32.
void DedupIds(std::span<const uint64_t> ids, UniqueIds* out);

}  // namespace pst
