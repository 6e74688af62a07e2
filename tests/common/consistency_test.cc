#include "common/consistency.h"

#include <catch2/catch.hpp>

namespace pst {
namespace {

ConsistencyPolicy Policy(Consistency c, uint32_t staleness = 0) {
  TrainSpec t;
  t.consistency = c;
  t.staleness = staleness;
  return ConsistencyPolicy(t);
}

TEST_CASE("ConsistencyPolicy: BSP is lockstep and pulls exactly its clock", "[common]") {
  const ConsistencyPolicy p = Policy(Consistency::kBsp);
  CHECK(p.lockstep());
  CHECK_FALSE(p.apply_on_arrival());
  CHECK_FALSE(p.ask_ahead());
  CHECK_FALSE(p.prefetch());
  CHECK(p.PullVersion(7) == 7);
  CHECK(p.EvalVersion(5, 9) == 5);
  CHECK(p.BoundText() == "0");
}

TEST_CASE("ConsistencyPolicy: SSP pulls at most its bound behind and prefetches from bound 1",
          "[common]") {
  const ConsistencyPolicy p = Policy(Consistency::kSsp, 3);
  CHECK_FALSE(p.lockstep());
  CHECK(p.apply_on_arrival());
  CHECK(p.ask_ahead());
  CHECK(p.prefetch());
  CHECK(p.PullVersion(7) == 4);
  CHECK(p.PullVersion(3) == 0);
  CHECK(p.PullVersion(2) == 0);
  CHECK(p.EvalVersion(5, 9) == 6);
  CHECK(p.BoundText() == "3");
  const ConsistencyPolicy zero = Policy(Consistency::kSsp, 0);
  CHECK_FALSE(zero.prefetch());
  CHECK(zero.PullVersion(7) == 7);
}

TEST_CASE("ConsistencyPolicy: ASP waits for no version", "[common]") {
  const ConsistencyPolicy p = Policy(Consistency::kAsp, 5);
  CHECK_FALSE(p.lockstep());
  CHECK(p.apply_on_arrival());
  CHECK(p.ask_ahead());
  CHECK_FALSE(p.prefetch());
  CHECK(p.PullVersion(7) == 0);
  CHECK(p.EvalVersion(5, 9) == 0);
  CHECK(p.BoundText() == "none");
}

}  // namespace
}  // namespace pst
