#include "worker/epoch_order.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <numeric>
#include <set>
#include <vector>

namespace pst {
namespace {

bool IsPermutation(const std::vector<uint32_t>& order, uint64_t n) {
  if (order.size() != n) return false;
  std::vector<uint32_t> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  for (uint64_t i = 0; i < n; ++i)
    if (sorted[i] != i) return false;
  return true;
}

TEST_CASE("EpochOrder: is a permutation of 0..n-1", "[worker]") {
  for (uint64_t n : {2, 3, 10, 1000, 60000}) {
    for (uint64_t seed : {0, 1, 42}) {
      for (uint32_t epoch : {0u, 1u, 7u}) {
        CAPTURE(n, seed, epoch);
        CHECK(IsPermutation(EpochOrder(n, seed, epoch), n));
      }
    }
  }
}

TEST_CASE("EpochOrder: n = 0 and n = 1", "[worker]") {
  CHECK(EpochOrder(0, 1, 0).empty());
  CHECK(EpochOrder(0, 9, 3).empty());
  CHECK(EpochOrder(1, 1, 0) == std::vector<uint32_t>{0});
  CHECK(EpochOrder(1, 12345, 99) == std::vector<uint32_t>{0});
}

TEST_CASE("EpochOrder: same seed and epoch give the same order", "[worker]") {
  for (uint64_t seed : {0ull, 1ull, 0xfeedfaceull}) {
    for (uint32_t epoch : {0u, 4u}) {
      CHECK(EpochOrder(5000, seed, epoch) == EpochOrder(5000, seed, epoch));
    }
  }
}

TEST_CASE("EpochOrder: different epochs or seeds give different orders", "[worker]") {
  const uint64_t n = 1000;
  std::set<std::vector<uint32_t>> seen;
  for (uint64_t seed : {0, 1, 2, 3}) {
    for (uint32_t epoch = 0; epoch < 10; ++epoch) {
      const std::vector<uint32_t> order = EpochOrder(n, seed, epoch);
      CHECK(seen.insert(order).second);
    }
  }
  CHECK(seen.size() == 40);
  // And they differ substantially, not by a swap or two.
  const std::vector<uint32_t> a = EpochOrder(n, 1, 0), b = EpochOrder(n, 1, 1),
                              c = EpochOrder(n, 2, 0);
  size_t same_ab = 0, same_ac = 0;
  for (uint64_t i = 0; i < n; ++i) {
    same_ab += a[i] == b[i];
    same_ac += a[i] == c[i];
  }
  CHECK(same_ab < 20);
  CHECK(same_ac < 20);
  // The order is actually shuffled.
  std::vector<uint32_t> identity(n);
  std::iota(identity.begin(), identity.end(), 0u);
  CHECK(a != identity);
}

TEST_CASE("EpochOrder: every value is equally likely at every position", "[worker]") {
  // 5 values x 5 positions over 4000 (seed, epoch) pairs: 800 expected per
  // cell, sd ~25. A biased shuffle (e.g. Sattolo's, which never leaves a value
  // in place, or a modulo-biased index) shows up far outside [650, 950].
  const uint64_t n = 5;
  std::vector<std::vector<int>> count(n, std::vector<int>(n, 0));
  for (uint64_t seed = 0; seed < 400; ++seed) {
    for (uint32_t epoch = 0; epoch < 10; ++epoch) {
      const std::vector<uint32_t> order = EpochOrder(n, seed, epoch);
      for (uint64_t pos = 0; pos < n; ++pos) ++count[order[pos]][pos];
    }
  }
  for (uint64_t v = 0; v < n; ++v) {
    for (uint64_t pos = 0; pos < n; ++pos) {
      CAPTURE(v, pos);
      CHECK(count[v][pos] > 650);
      CHECK(count[v][pos] < 950);
    }
  }
}

}  // namespace
}  // namespace pst
