#include "worker/models/unique_ids.h"

#include <algorithm>
#include <numeric>

namespace pst {

void DedupIds(std::span<const uint64_t> ids, UniqueIds* out) {
  // Sort positions by id, then number the runs of equal ids.
  std::vector<uint32_t> order(ids.size());
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return ids[a] < ids[b]; });
  out->ids.clear();
  out->slot.resize(ids.size());
  for (uint32_t k : order) {
    if (out->ids.empty() || out->ids.back() != ids[k]) out->ids.push_back(ids[k]);
    out->slot[k] = static_cast<uint32_t>(out->ids.size() - 1);
  }
}

}  // namespace pst
