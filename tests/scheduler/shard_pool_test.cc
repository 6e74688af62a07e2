#include "scheduler/shard_pool.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

namespace pst {
namespace {

using Kind = ShardGrant::Kind;

uint64_t Batches(const ShardGrant& g, uint32_t batch_size) {
  return (g.sample_end - g.sample_begin + batch_size - 1) / batch_size;
}

TEST_CASE("ShardPool: shards cover each epoch exactly once with the right sizes", "[scheduler]") {
  // 1000 samples, batch 10, 4 batches per shard: 25 shards of 40 samples.
  ShardPool pool(1000, 10, 4, 2);
  CHECK(pool.num_samples() == 1000);
  CHECK(pool.shards_per_epoch() == 25);
  CHECK(pool.epoch() == 0);
  CHECK_FALSE(pool.finished());

  // One worker, asking at the clock its previous lease ended.
  uint64_t clock = 0;
  for (uint32_t epoch = 0; epoch < 2; ++epoch) {
    std::vector<int> covered(1000, 0);
    for (uint32_t shard = 0; shard < 25; ++shard) {
      CAPTURE(epoch, shard, clock);
      const ShardGrant g = pool.Next(clock);
      REQUIRE(g.kind == Kind::kLease);
      CHECK(g.epoch == epoch);
      CHECK(g.shard == shard);
      CHECK(g.sample_begin == uint64_t{shard} * 40);
      CHECK(g.sample_end == g.sample_begin + 40);
      // Only the first lease of the second epoch carries the evaluation of the first.
      CHECK(g.evaluate == (epoch == 1 && shard == 0));
      for (uint64_t i = g.sample_begin; i < g.sample_end; ++i) ++covered[i];
      clock += Batches(g, 10);
    }
    for (int c : covered) REQUIRE(c == 1);
    CHECK(clock == 100 * (epoch + 1));
  }
  const ShardGrant last = pool.Next(clock);
  CHECK(last.kind == Kind::kDone);
  CHECK(last.evaluate);
  CHECK(last.eval_epoch == 1);
  CHECK(last.eval_version == 200);
  CHECK(pool.finished());
}

TEST_CASE("ShardPool: two workers share an epoch and idle at its end", "[scheduler]") {
  ShardPool pool(1000, 10, 4, 2);
  // Both ask at clock 0: shards 0 and 1.
  ShardGrant a = pool.Next(0), b = pool.Next(0);
  REQUIRE(a.kind == Kind::kLease);
  REQUIRE(b.kind == Kind::kLease);
  CHECK(a.shard == 0);
  CHECK(b.shard == 1);
  CHECK(a.sample_begin == 0);
  CHECK(a.sample_end == 40);
  CHECK(b.sample_begin == 40);
  CHECK(b.sample_end == 80);
  CHECK_FALSE(a.evaluate);
  CHECK_FALSE(b.evaluate);
  // Four batches later: shards 2 and 3.
  a = pool.Next(4);
  b = pool.Next(4);
  CHECK(a.shard == 2);
  CHECK(b.shard == 3);
  CHECK(a.sample_begin == 80);

  // Rounds at clocks 8..44 lease shards 4..23; at 48 worker A gets the last one.
  for (uint64_t clock = 8; clock <= 44; clock += 4) {
    REQUIRE(pool.Next(clock).kind == Kind::kLease);
    REQUIRE(pool.Next(clock).kind == Kind::kLease);
  }
  a = pool.Next(48);
  REQUIRE(a.kind == Kind::kLease);
  CHECK(a.shard == 24);
  CHECK(a.sample_end == 1000);
  // Every shard is leased and the last lease ends at 52: B idles until then.
  b = pool.Next(48);
  CHECK(b.kind == Kind::kIdle);
  CHECK(b.idle_until == 52);
  CHECK_FALSE(b.evaluate);
  CHECK(pool.Next(51).kind == Kind::kIdle);
  CHECK(pool.epoch() == 0);

  // The first ask at 52 closes epoch 0 (evaluate at version 52) and leases epoch 1.
  b = pool.Next(52);
  REQUIRE(b.kind == Kind::kLease);
  CHECK(b.evaluate);
  CHECK(b.eval_epoch == 0);
  CHECK(b.eval_version == 52);
  CHECK(b.epoch == 1);
  CHECK(b.shard == 0);
  CHECK(b.sample_begin == 0);
  CHECK(pool.epoch() == 1);
  // The second ask at 52 gets the next shard and no second evaluation.
  a = pool.Next(52);
  REQUIRE(a.kind == Kind::kLease);
  CHECK_FALSE(a.evaluate);
  CHECK(a.epoch == 1);
  CHECK(a.shard == 1);
  // A worker behind the new epoch's start (e.g. one that just joined) idles until it.
  const ShardGrant late = pool.Next(50);
  CHECK(late.kind == Kind::kIdle);
  CHECK(late.idle_until == 52);
  CHECK_FALSE(late.evaluate);
}

TEST_CASE("ShardPool: an ask well after the epoch's end still closes it at its end clock",
          "[scheduler]") {
  ShardPool pool(100, 10, 2, 3);                                           // 5 shards of 2 batches
  for (int i = 0; i < 5; ++i) REQUIRE(pool.Next(0).kind == Kind::kLease);  // all end at 2
  const ShardGrant g = pool.Next(7);
  REQUIRE(g.kind == Kind::kLease);
  CHECK(g.evaluate);
  CHECK(g.eval_epoch == 0);
  CHECK(g.eval_version == 2);
  CHECK(g.epoch == 1);
  // Epoch 1 started at clock 2, so a worker at clock 3 may lease.
  const ShardGrant h = pool.Next(3);
  CHECK(h.kind == Kind::kLease);
  CHECK(h.epoch == 1);
  CHECK(h.shard == 1);
}

TEST_CASE("ShardPool: after the last epoch kDone evaluates exactly once", "[scheduler]") {
  ShardPool pool(30, 10, 3, 1);  // one shard of 3 batches, one epoch
  CHECK(pool.shards_per_epoch() == 1);
  const ShardGrant g = pool.Next(0);
  REQUIRE(g.kind == Kind::kLease);
  CHECK(g.sample_begin == 0);
  CHECK(g.sample_end == 30);
  const ShardGrant idle = pool.Next(0);
  CHECK(idle.kind == Kind::kIdle);
  CHECK(idle.idle_until == 3);
  CHECK_FALSE(pool.finished());

  const ShardGrant done = pool.Next(3);
  CHECK(done.kind == Kind::kDone);
  CHECK(done.evaluate);
  CHECK(done.eval_epoch == 0);
  CHECK(done.eval_version == 3);
  CHECK(pool.finished());
  for (uint64_t clock : {3, 3, 4, 100}) {
    const ShardGrant again = pool.Next(clock);
    CHECK(again.kind == Kind::kDone);
    CHECK_FALSE(again.evaluate);
  }
  // A worker that is behind the final clock idles until it (see the regression
  // test below): its empty pushes complete the final clocks.
  const ShardGrant behind = pool.Next(0);
  CHECK(behind.kind == Kind::kIdle);
  CHECK(behind.idle_until == 3);
}

TEST_CASE("ShardPool: a partial last shard and a partial last batch", "[scheduler]") {
  // 1000 samples, batch 16, 4 batches/shard: 64-sample shards, 15 full ones
  // ([0, 960)) and a last one of 40 samples = 2.5 batches -> 3 clocks.
  ShardPool pool(1000, 16, 4, 2);
  CHECK(pool.shards_per_epoch() == 16);
  uint64_t clock = 0;
  for (uint32_t s = 0; s < 15; ++s) {
    const ShardGrant g = pool.Next(clock);
    REQUIRE(g.kind == Kind::kLease);
    CHECK(g.sample_end - g.sample_begin == 64);
    clock += 4;
  }
  REQUIRE(clock == 60);
  const ShardGrant last = pool.Next(60);
  REQUIRE(last.kind == Kind::kLease);
  CHECK(last.shard == 15);
  CHECK(last.sample_begin == 960);
  CHECK(last.sample_end == 1000);
  // The partial shard's lease ends at 63, not 64 and not 62.
  const ShardGrant idle = pool.Next(62);
  CHECK(idle.kind == Kind::kIdle);
  CHECK(idle.idle_until == 63);
  const ShardGrant next = pool.Next(63);
  REQUIRE(next.kind == Kind::kLease);
  CHECK(next.evaluate);
  CHECK(next.eval_version == 63);
  CHECK(next.epoch == 1);

  // Fewer samples than one shard: a single partial shard.
  ShardPool small(7, 4, 2, 1);
  CHECK(small.shards_per_epoch() == 1);
  const ShardGrant g = small.Next(5);
  REQUIRE(g.kind == Kind::kLease);
  CHECK(g.sample_begin == 0);
  CHECK(g.sample_end == 7);
  CHECK(small.Next(6).idle_until == 7);  // 7 samples / batch 4 = 2 clocks from 5
}

// Runs `workers` workers in lockstep: each asks when its lease (or idle time)
// ends, in rank order at each clock. Checks that each epoch's samples are
// trained exactly once, that no epoch's lease overlaps the next epoch's in
// clocks, and that evaluations come for epochs 0..E-1 in order.
void SimulateLockstep(uint64_t samples, uint32_t batch, uint32_t per_shard, uint32_t epochs,
                      uint32_t workers) {
  CAPTURE(samples, batch, per_shard, epochs, workers);
  ShardPool pool(samples, batch, per_shard, epochs);
  std::vector<uint64_t> next_ask(workers, 0);
  std::vector<bool> done(workers, false);
  std::vector<std::vector<int>> covered(epochs, std::vector<int>(samples, 0));
  std::vector<std::pair<uint32_t, uint64_t>> evals;  // (epoch, version)
  std::vector<uint64_t> first_start(epochs, UINT64_MAX), last_end(epochs, 0);
  std::vector<uint64_t> leases_per_worker(workers, 0);
  uint32_t finished = 0;
  for (uint64_t clock = 0; finished < workers; ++clock) {
    REQUIRE(clock < 100000);  // the schedule must terminate
    for (uint32_t w = 0; w < workers; ++w) {
      if (done[w] || next_ask[w] != clock) continue;
      const ShardGrant g = pool.Next(clock);
      if (g.evaluate) {
        CHECK(g.eval_version <= clock);
        evals.emplace_back(g.eval_epoch, g.eval_version);
      }
      switch (g.kind) {
        case Kind::kLease: {
          REQUIRE(g.epoch < epochs);
          REQUIRE(g.sample_begin < g.sample_end);
          REQUIRE(g.sample_end <= samples);
          CHECK(g.sample_end - g.sample_begin <= uint64_t{batch} * per_shard);
          for (uint64_t i = g.sample_begin; i < g.sample_end; ++i) ++covered[g.epoch][i];
          first_start[g.epoch] = std::min(first_start[g.epoch], clock);
          next_ask[w] = clock + Batches(g, batch);
          last_end[g.epoch] = std::max(last_end[g.epoch], next_ask[w]);
          ++leases_per_worker[w];
          break;
        }
        case Kind::kIdle:
          REQUIRE(g.idle_until > clock);
          next_ask[w] = g.idle_until;
          break;
        case Kind::kDone:
          done[w] = true;
          ++finished;
          break;
      }
    }
  }
  for (uint32_t e = 0; e < epochs; ++e) {
    CAPTURE(e);
    uint64_t wrong = 0;
    for (int c : covered[e]) wrong += c != 1;
    CHECK(wrong == 0);
    if (e + 1 < epochs) CHECK(last_end[e] <= first_start[e + 1]);
  }
  REQUIRE(evals.size() == epochs);
  for (uint32_t e = 0; e < epochs; ++e) {
    CHECK(evals[e].first == e);
    // The evaluated version is the clock at which the epoch's last lease ended.
    CHECK(evals[e].second == last_end[e]);
  }
  CHECK(pool.finished());
  // With at least as many shards as workers, everyone gets work.
  if (pool.shards_per_epoch() >= workers)
    for (uint64_t n : leases_per_worker) CHECK(n > 0);
}

TEST_CASE("ShardPool: lockstep workers train every sample of every epoch once", "[scheduler]") {
  SimulateLockstep(1000, 10, 4, 3, 3);
  SimulateLockstep(1000, 16, 4, 2, 3);  // partial last shard
  SimulateLockstep(1001, 10, 4, 2, 3);  // partial last batch
  SimulateLockstep(60000, 64, 16, 2, 4);
  SimulateLockstep(5, 4, 2, 3, 3);  // fewer shards than workers
  SimulateLockstep(1, 1, 2, 2, 2);
  SimulateLockstep(97, 5, 2, 4, 1);
}

}  // namespace
}  // namespace pst

namespace pst {
namespace {

TEST_CASE("ShardPool: without lockstep nobody idles and epochs close on completion", "[scheduler]") {
  // 100 samples, batch 10, 2 batches per shard: 5 shards per epoch, 2 epochs.
  ShardPool pool(100, 10, 2, 2, /*lockstep=*/false);
  std::vector<ShardGrant> grants;
  for (int i = 0; i < 5; ++i) grants.push_back(pool.Next(0));
  for (const ShardGrant& g : grants) {
    CHECK(g.kind == ShardGrant::Kind::kLease);
    CHECK(g.epoch == 0);
    CHECK_FALSE(g.evaluate);
  }
  // Epoch 0 is fully leased: the next asker starts epoch 1 at once.
  ShardGrant g = pool.Next(3);
  CHECK(g.kind == ShardGrant::Kind::kLease);
  CHECK(g.epoch == 1);
  CHECK(g.shard == 0);
  CHECK_FALSE(g.evaluate);
  // Four of epoch 0's shards complete: not closed yet.
  for (int i = 0; i < 4; ++i) pool.Complete(0);
  g = pool.Next(5);
  CHECK(g.epoch == 1);
  CHECK_FALSE(g.evaluate);
  // The fifth completes: the next asker evaluates epoch 0.
  pool.Complete(0);
  g = pool.Next(6);
  CHECK(g.kind == ShardGrant::Kind::kLease);
  CHECK(g.evaluate);
  CHECK(g.eval_epoch == 0);
  // Epoch 1: shards 0..2 leased so far; lease the rest, then kDone.
  CHECK(pool.Next(7).shard == 3);
  CHECK(pool.Next(7).shard == 4);
  g = pool.Next(8);
  CHECK(g.kind == ShardGrant::Kind::kDone);
  CHECK_FALSE(g.evaluate);
  CHECK_FALSE(pool.finished());
  for (int i = 0; i < 5; ++i) pool.Complete(1);
  g = pool.Next(9);
  CHECK(g.kind == ShardGrant::Kind::kDone);
  CHECK(g.evaluate);
  CHECK(g.eval_epoch == 1);
  CHECK(pool.finished());
  g = pool.Next(9);
  CHECK(g.kind == ShardGrant::Kind::kDone);
  CHECK_FALSE(g.evaluate);
}

TEST_CASE("ShardPool: without lockstep a late epoch is still evaluated in order", "[scheduler]") {
  ShardPool pool(40, 10, 2, 2, /*lockstep=*/false);  // 2 shards per epoch
  for (int i = 0; i < 4; ++i) REQUIRE(pool.Next(0).kind == ShardGrant::Kind::kLease);
  // Epoch 1 finishes before epoch 0's last shard.
  pool.Complete(0);
  pool.Complete(1);
  pool.Complete(1);
  ShardGrant g = pool.Next(1);
  CHECK(g.kind == ShardGrant::Kind::kDone);
  CHECK_FALSE(g.evaluate);
  pool.Complete(0);  // now both close
  g = pool.Next(2);
  CHECK(g.evaluate);
  CHECK(g.eval_epoch == 0);
  g = pool.Next(2);
  CHECK(g.evaluate);
  CHECK(g.eval_epoch == 1);
  CHECK(pool.finished());
  // Completions beyond an epoch's shard count are ignored.
  pool.Complete(0);
  pool.Complete(9);
  CHECK(pool.Next(3).kind == ShardGrant::Kind::kDone);
}

}  // namespace
}  // namespace pst

namespace pst {
namespace {

// Regression: after the last epoch closed, a worker whose last lease ended
// before the final clock got kDone, left, and the others' last clocks never
// completed (a BSP deadlock at the end of the job).
TEST_CASE("ShardPool: after the last epoch, workers behind the final clock idle until it",
          "[scheduler]") {
  // 30 samples, batch 10, 2 batches per shard: shards of 20 and 10 samples.
  ShardPool pool(30, 10, 2, 1);
  ShardGrant a = pool.Next(0);  // shard 0: clocks [0, 2)
  ShardGrant b = pool.Next(0);  // shard 1: clocks [0, 1)
  REQUIRE(a.kind == ShardGrant::Kind::kLease);
  REQUIRE(b.kind == ShardGrant::Kind::kLease);
  // The worker with the short shard idles until 2, races there and closes the epoch.
  ShardGrant idle = pool.Next(1);
  REQUIRE(idle.kind == ShardGrant::Kind::kIdle);
  REQUIRE(idle.idle_until == 2);
  ShardGrant close = pool.Next(2);
  CHECK(close.kind == ShardGrant::Kind::kDone);
  CHECK(close.evaluate);
  CHECK(close.eval_version == 2);
  // A worker that asks at clock 1 (its lease ended there) must not leave yet.
  ShardGrant late = pool.Next(1);
  CHECK(late.kind == ShardGrant::Kind::kIdle);
  CHECK(late.idle_until == 2);
  CHECK(pool.Next(2).kind == ShardGrant::Kind::kDone);
}

}  // namespace
}  // namespace pst
