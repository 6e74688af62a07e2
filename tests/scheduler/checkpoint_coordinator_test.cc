#include "scheduler/checkpoint_coordinator.h"

#include <catch2/catch.hpp>

namespace pst {
namespace {

using Report = CheckpointCoordinator::ShardReport;
using Outcome = CheckpointCoordinator::Outcome;
const auto kT0 = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
constexpr std::chrono::milliseconds kTimeout{1000};

TEST_CASE("CheckpointCoordinator: a round completes only when every shard wrote it", "[scheduler]") {
  CheckpointCoordinator c(/*last_id=*/4);
  const uint64_t id = c.Begin(100, kT0);
  CHECK(id == 5);
  CHECK(c.active());
  CHECK(c.clock() == 100 + c.margin());
  std::string why;
  std::vector<Report> shards(3);
  shards[0].written = 5;
  shards[1].written = 4;  // an older checkpoint: not this round
  shards[2].written = 5;
  CHECK(c.Update(shards, kT0, kTimeout, &why) == Outcome::kPending);
  CHECK(c.active());
  shards[1].written = 5;
  CHECK(c.Update(shards, kT0, kTimeout, &why) == Outcome::kComplete);
  CHECK_FALSE(c.active());
  CHECK(c.Update(shards, kT0, kTimeout, &why) == Outcome::kNone);
  CHECK(c.Begin(200, kT0) == 6);  // ids keep increasing
}

TEST_CASE("CheckpointCoordinator: a miss, a dead shard or a timeout fails the round", "[scheduler]") {
  std::string why;
  {
    CheckpointCoordinator c;
    c.Begin(0, kT0);
    std::vector<Report> shards(2);
    shards[0].written = 1;
    shards[1].failed = 1;
    shards[1].error = "block past clock";
    CHECK(c.Update(shards, kT0, kTimeout, &why) == Outcome::kFailed);
    CHECK(why == "PS 1: block past clock");
    CHECK_FALSE(c.active());
  }
  {
    CheckpointCoordinator c;
    c.Begin(0, kT0);
    std::vector<Report> shards(2);
    shards[0].written = 1;
    shards[1].alive = false;
    CHECK(c.Update(shards, kT0, kTimeout, &why) == Outcome::kFailed);
    CHECK(why == "PS 1 is not alive");
  }
  {
    CheckpointCoordinator c;
    c.Begin(0, kT0);
    std::vector<Report> shards(1);
    CHECK(c.Update(shards, kT0 + std::chrono::milliseconds(999), kTimeout, &why) ==
          Outcome::kPending);
    CHECK(c.Update(shards, kT0 + std::chrono::milliseconds(1001), kTimeout, &why) ==
          Outcome::kFailed);
  }
  {
    // A failure reported for an older round does not fail the current one.
    CheckpointCoordinator c(7);
    c.Begin(0, kT0);
    std::vector<Report> shards(1);
    shards[0].failed = 7;
    CHECK(c.Update(shards, kT0, kTimeout, &why) == Outcome::kPending);
  }
}

TEST_CASE("CheckpointCoordinator: the margin follows the pace and doubles after misses", "[scheduler]") {
  CheckpointCoordinator c;
  c.SetPace(1000.0, std::chrono::milliseconds(100));  // 300 clocks in three intervals
  const uint64_t base = c.margin();
  CHECK(base >= 300);
  std::string why;
  std::vector<Report> shards(1);
  c.Begin(0, kT0);
  shards[0].failed = 1;
  CHECK(c.Update(shards, kT0, kTimeout, &why) == Outcome::kFailed);
  CHECK(c.margin() == 2 * base);
  c.Begin(0, kT0);
  shards[0].failed = 2;
  CHECK(c.Update(shards, kT0, kTimeout, &why) == Outcome::kFailed);
  CHECK(c.margin() == 4 * base);
  c.Begin(0, kT0);
  shards[0].written = 3;
  CHECK(c.Update(shards, kT0, kTimeout, &why) == Outcome::kComplete);
  CHECK(c.margin() == base);
  c.Abort();
  CHECK_FALSE(c.active());
}

}  // namespace
}  // namespace pst
