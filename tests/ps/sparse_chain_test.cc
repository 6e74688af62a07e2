#include "ps/sparse_chain.h"

#include <catch2/catch.hpp>

namespace pst {
namespace {

TEST_CASE("SparseChain: full first, then increments up to max_chain", "[ps]") {
  SparseChain c(3);
  SparseChain::Next n = c.Plan(10, 1000);
  CHECK(n.full);  // nothing to build on
  c.Captured(5, n, 1000);
  for (uint32_t k = 1; k <= 3; ++k) {
    n = c.Plan(10, 1000);
    REQUIRE_FALSE(n.full);
    CHECK(n.parent == 4 + k);
    CHECK(n.chain == k);
    c.Captured(5 + k, n, 10);
  }
  CHECK(c.Plan(10, 1000).full);  // the chain holds max_chain increments
}

TEST_CASE("SparseChain: large increments, lost captures and failed writes force a full one",
          "[ps]") {
  SparseChain c(8);
  c.Captured(1, c.Plan(0, 100), 100);
  SparseChain::Next n = c.Plan(60, 100);
  REQUIRE_FALSE(n.full);
  c.Captured(2, n, 60);
  CHECK(c.Plan(40, 100).full);  // 60 + 40 rows of increments >= 100 live rows
  CHECK_FALSE(c.Plan(39, 100).full);
  c.Lost(1);  // an older write failing does not matter: 2 is the parent
  CHECK_FALSE(c.Plan(1, 100).full);
  c.Lost(2);
  CHECK(c.Plan(1, 100).full);
  c.Restored(9, 2, 10);
  n = c.Plan(1, 100);
  CHECK_FALSE(n.full);
  CHECK(n.parent == 9);
  CHECK(n.chain == 3);
  c.Restored(0, 0, 0);  // the initial model
  CHECK(c.Plan(1, 100).full);
  c.Captured(3, c.Plan(1, 100), 100);
  c.Lost();  // a capture was dropped before it was written
  CHECK(c.Plan(1, 100).full);
}

}  // namespace
}  // namespace pst
