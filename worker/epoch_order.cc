#include "worker/epoch_order.h"

#include <numeric>
#include <utility>

namespace pst {
namespace {

uint64_t SplitMix(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

std::vector<uint32_t> EpochOrder(uint64_t n, uint64_t seed, uint32_t epoch) {
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  uint64_t state = seed * 0x2545f4914f6cdd1dull + epoch + 1;
  for (uint64_t i = n; i > 1; --i) {
    // Multiply-shift maps 64 random bits onto [0, i) without modulo bias worth noting.
    const uint64_t j = static_cast<uint64_t>((static_cast<__uint128_t>(SplitMix(state)) * i) >> 64);
    std::swap(order[i - 1], order[j]);
  }
  return order;
}

}  // namespace pst
