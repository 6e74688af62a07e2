#include "ps/sparse_digest.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <vector>

namespace pst {
namespace {

TEST_CASE("SparseRowDigest: a sum over rows is order-free, any change of row, id or table shows",
          "[ps]") {
  const std::vector<float> a = {1.0f, -2.0f, 0.5f}, b = {3.0f, 4.0f, 0.0f};
  const uint64_t ab = SparseRowDigest(0, 7, a.data(), 3) + SparseRowDigest(0, 9, b.data(), 3);
  const uint64_t ba = SparseRowDigest(0, 9, b.data(), 3) + SparseRowDigest(0, 7, a.data(), 3);
  CHECK(ab == ba);
  std::vector<float> changed = a;
  changed[2] = 0.50000006f;  // one ulp
  CHECK(SparseRowDigest(0, 7, changed.data(), 3) != SparseRowDigest(0, 7, a.data(), 3));
  CHECK(SparseRowDigest(0, 8, a.data(), 3) != SparseRowDigest(0, 7, a.data(), 3));
  CHECK(SparseRowDigest(1, 7, a.data(), 3) != SparseRowDigest(0, 7, a.data(), 3));
  // Swapping the rows of two ids changes the sum.
  CHECK(SparseRowDigest(0, 7, b.data(), 3) + SparseRowDigest(0, 9, a.data(), 3) != ab);
}

}  // namespace
}  // namespace pst
