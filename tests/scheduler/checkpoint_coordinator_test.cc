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

TEST_CASE("CheckpointCoordinator: the round's wait follows the pace and the shard's size",
          "[scheduler]") {
  using std::chrono::milliseconds;
  CheckpointWaitOptions o;
  o.min_wait = milliseconds(10000);
  o.write_bytes_per_second = 100e6;
  o.pace_factor = 4.0;
  // A fast job with a small model: the minimum.
  CHECK(CheckpointRoundWait(o, 16, 2000.0, 1'200'000) == milliseconds(10000));
  // The job: 101M parameters with Adam on one PS (1.2 GB), a step
  // every 4 s, K 16 clocks ahead: 4 x 16 x 4 s to get there + 12 s to write.
  CHECK(CheckpointRoundWait(o, 16, 0.25, 1'200'000'000) == milliseconds(4 * 64000 + 12000));
  // Only the write when the pace is unknown or the cluster stalled.
  CHECK(CheckpointRoundWait(o, 16, 0.0, 2'000'000'000) == milliseconds(20000));
  // A pace near zero gives a long wait, not an overflow.
  CHECK(CheckpointRoundWait(o, 16, 1e-300, 0) == milliseconds(86400000));

  JobSpec job;
  job.model.layer_sizes = {784, 127000, 10};
  job.num_servers = 2;
  const uint64_t keys = 784ull * 127000 + 127000 + 127000ull * 10 + 10;
  CHECK(CheckpointShardBytes(job) == (keys + 1) / 2 * 12);

  // Begin keeps the wait for the caller's Update.
  CheckpointCoordinator c;
  c.Begin(0, kT0, milliseconds(123456));
  CHECK(c.wait() == milliseconds(123456));
}

TEST_CASE("CheckpointCoordinator: a round abandoned for time says which PS was behind",
          "[scheduler]") {
  CheckpointCoordinator c(/*last_id=*/2);
  c.Begin(90, kT0);
  const uint64_t k = c.clock();
  REQUIRE(k > 95);
  std::vector<Report> shards(3);
  shards[0].clock = k + 2;
  shards[0].written = 3;  // done
  shards[1].clock = 95;   // behind
  shards[2].clock = k;    // there, still writing
  std::string why;
  CHECK(c.Update(shards, kT0 + std::chrono::milliseconds(1500), kTimeout, &why) ==
        Outcome::kFailed);
  CHECK(why == "not every PS wrote it within 1.0 s: PS 1 was at clock 95, " +
                   std::to_string(k - 95) + " clocks short of " + std::to_string(k) +
                   "; PS 2 had reached clock " + std::to_string(k) + " (at " +
                   std::to_string(k) + ") but not finished writing");
}

}  // namespace
}  // namespace pst
