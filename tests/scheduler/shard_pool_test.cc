#include "scheduler/shard_pool.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

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
      const ShardGrant g = pool.Next(0, clock);
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
  const ShardGrant last = pool.Next(0, clock);
  CHECK(last.kind == Kind::kDone);
  CHECK(last.evaluate);
  CHECK(last.eval_epoch == 1);
  CHECK(last.eval_version == 200);
  CHECK(pool.finished());
}

TEST_CASE("ShardPool: two workers share an epoch and idle at its end", "[scheduler]") {
  ShardPool pool(1000, 10, 4, 2);
  // Both ask at clock 0: shards 0 and 1.
  ShardGrant a = pool.Next(0, 0), b = pool.Next(1, 0);
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
  a = pool.Next(0, 4);
  b = pool.Next(1, 4);
  CHECK(a.shard == 2);
  CHECK(b.shard == 3);
  CHECK(a.sample_begin == 80);

  // Rounds at clocks 8..44 lease shards 4..23; at 48 worker A gets the last one.
  for (uint64_t clock = 8; clock <= 44; clock += 4) {
    REQUIRE(pool.Next(0, clock).kind == Kind::kLease);
    REQUIRE(pool.Next(1, clock).kind == Kind::kLease);
  }
  a = pool.Next(0, 48);
  REQUIRE(a.kind == Kind::kLease);
  CHECK(a.shard == 24);
  CHECK(a.sample_end == 1000);
  // Every shard is leased and the last lease ends at 52: B idles until then.
  b = pool.Next(1, 48);
  CHECK(b.kind == Kind::kIdle);
  CHECK(b.idle_until == 52);
  CHECK_FALSE(b.evaluate);
  CHECK(pool.Next(1, 51).kind == Kind::kIdle);
  CHECK(pool.epoch() == 0);

  // The first ask at 52 closes epoch 0 (evaluate at version 52) and leases epoch 1.
  b = pool.Next(1, 52);
  REQUIRE(b.kind == Kind::kLease);
  CHECK(b.evaluate);
  CHECK(b.eval_epoch == 0);
  CHECK(b.eval_version == 52);
  CHECK(b.epoch == 1);
  CHECK(b.shard == 0);
  CHECK(b.sample_begin == 0);
  CHECK(pool.epoch() == 1);
  // The second ask at 52 gets the next shard and no second evaluation.
  a = pool.Next(0, 52);
  REQUIRE(a.kind == Kind::kLease);
  CHECK_FALSE(a.evaluate);
  CHECK(a.epoch == 1);
  CHECK(a.shard == 1);
  // A worker behind the new epoch's start (e.g. one that just joined) idles until it.
  const ShardGrant late = pool.Next(2, 50);
  CHECK(late.kind == Kind::kIdle);
  CHECK(late.idle_until == 52);
  CHECK_FALSE(late.evaluate);
}

TEST_CASE("ShardPool: an ask well after the epoch's end still closes it at its end clock",
          "[scheduler]") {
  ShardPool pool(100, 10, 2, 3);  // 5 shards of 2 batches
  for (uint32_t w = 0; w < 5; ++w) REQUIRE(pool.Next(w, 0).kind == Kind::kLease);  // all end at 2
  const ShardGrant g = pool.Next(0, 7);
  REQUIRE(g.kind == Kind::kLease);
  CHECK(g.evaluate);
  CHECK(g.eval_epoch == 0);
  CHECK(g.eval_version == 2);
  CHECK(g.epoch == 1);
  // Epoch 1 started at clock 2, so a worker at clock 3 may lease.
  const ShardGrant h = pool.Next(1, 3);
  CHECK(h.kind == Kind::kLease);
  CHECK(h.epoch == 1);
  CHECK(h.shard == 1);
}

TEST_CASE("ShardPool: after the last epoch kDone evaluates exactly once", "[scheduler]") {
  ShardPool pool(30, 10, 3, 1);  // one shard of 3 batches, one epoch
  CHECK(pool.shards_per_epoch() == 1);
  const ShardGrant g = pool.Next(0, 0);
  REQUIRE(g.kind == Kind::kLease);
  CHECK(g.sample_begin == 0);
  CHECK(g.sample_end == 30);
  const ShardGrant idle = pool.Next(1, 0);
  CHECK(idle.kind == Kind::kIdle);
  CHECK(idle.idle_until == 3);
  CHECK_FALSE(pool.finished());

  const ShardGrant done = pool.Next(1, 3);
  CHECK(done.kind == Kind::kDone);
  CHECK(done.evaluate);
  CHECK(done.eval_epoch == 0);
  CHECK(done.eval_version == 3);
  CHECK(pool.finished());
  for (uint64_t clock : {3, 3, 4, 100}) {
    const ShardGrant again = pool.Next(1, clock);
    CHECK(again.kind == Kind::kDone);
    CHECK_FALSE(again.evaluate);
  }
  // A worker that is behind the final clock idles until it (see the regression
  // test below): its empty pushes complete the final clocks.
  const ShardGrant behind = pool.Next(2, 0);
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
    const ShardGrant g = pool.Next(0, clock);
    REQUIRE(g.kind == Kind::kLease);
    CHECK(g.sample_end - g.sample_begin == 64);
    clock += 4;
  }
  REQUIRE(clock == 60);
  const ShardGrant last = pool.Next(0, 60);
  REQUIRE(last.kind == Kind::kLease);
  CHECK(last.shard == 15);
  CHECK(last.sample_begin == 960);
  CHECK(last.sample_end == 1000);
  // The partial shard's lease ends at 63, not 64 and not 62.
  const ShardGrant idle = pool.Next(1, 62);
  CHECK(idle.kind == Kind::kIdle);
  CHECK(idle.idle_until == 63);
  const ShardGrant next = pool.Next(1, 63);
  REQUIRE(next.kind == Kind::kLease);
  CHECK(next.evaluate);
  CHECK(next.eval_version == 63);
  CHECK(next.epoch == 1);

  // Fewer samples than one shard: a single partial shard.
  ShardPool small(7, 4, 2, 1);
  CHECK(small.shards_per_epoch() == 1);
  const ShardGrant g = small.Next(0, 5);
  REQUIRE(g.kind == Kind::kLease);
  CHECK(g.sample_begin == 0);
  CHECK(g.sample_end == 7);
  CHECK(small.Next(1, 6).idle_until == 7);  // 7 samples / batch 4 = 2 clocks from 5
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
      const ShardGrant g = pool.Next(w, clock);
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
        case Kind::kNone:
          FAIL("Next answered kNone");
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

TEST_CASE("ShardPool: without lockstep nobody idles and epochs close on completion",
          "[scheduler]") {
  // 100 samples, batch 10, 2 batches per shard: 5 shards per epoch, 2 epochs.
  // Worker w holds epoch 0's shard w.
  ShardPool pool(100, 10, 2, 2, /*lockstep=*/false);
  std::vector<ShardGrant> grants;
  for (uint32_t w = 0; w < 5; ++w) grants.push_back(pool.Next(w, 0));
  for (uint32_t w = 0; w < 5; ++w) {
    CHECK(grants[w].kind == ShardGrant::Kind::kLease);
    CHECK(grants[w].epoch == 0);
    CHECK(grants[w].shard == w);
    CHECK_FALSE(grants[w].evaluate);
  }
  // Epoch 0 is fully leased: the next asker starts epoch 1 at once.
  ShardGrant g = pool.Next(5, 3);
  CHECK(g.kind == ShardGrant::Kind::kLease);
  CHECK(g.epoch == 1);
  CHECK(g.shard == 0);
  CHECK_FALSE(g.evaluate);
  // Four of epoch 0's shards complete: not closed yet.
  for (uint32_t w = 0; w < 4; ++w) CHECK(pool.Complete(w, 0, w));
  g = pool.Next(0, 5);
  CHECK(g.epoch == 1);
  CHECK(g.shard == 1);
  CHECK_FALSE(g.evaluate);
  // The fifth completes: the next asker evaluates epoch 0.
  CHECK(pool.Complete(4, 0, 4));
  g = pool.Next(1, 6);
  CHECK(g.kind == ShardGrant::Kind::kLease);
  CHECK(g.evaluate);
  CHECK(g.eval_epoch == 0);
  // Epoch 1: shards 0..2 leased so far; lease the rest; then the others'
  // leases are still out (the latest ends at clock 9): idle, not done.
  CHECK(pool.Next(2, 7).shard == 3);
  CHECK(pool.Next(3, 7).shard == 4);
  g = pool.Next(4, 8);
  CHECK(g.kind == ShardGrant::Kind::kIdle);
  CHECK(g.idle_until == 9);
  CHECK_FALSE(g.evaluate);
  CHECK_FALSE(pool.finished());
  // Epoch 1's shards are held by workers 5, 0, 1, 2, 3.
  for (uint32_t s = 0; s < 5; ++s) CHECK(pool.Complete(s == 0 ? 5 : s - 1, 1, s));
  g = pool.Next(9, 9);
  CHECK(g.kind == ShardGrant::Kind::kDone);
  CHECK(g.evaluate);
  CHECK(g.eval_epoch == 1);
  CHECK(pool.finished());
  g = pool.Next(9, 9);
  CHECK(g.kind == ShardGrant::Kind::kDone);
  CHECK_FALSE(g.evaluate);
}

TEST_CASE("ShardPool: EvaluationOnly hands out a closed epoch's evaluation and leases nothing",
          "[scheduler]") {
  // 40 samples, batch 10, 2 batches per shard: 2 shards per epoch, 2 epochs.
  ShardPool pool(40, 10, 2, 2, /*lockstep=*/false);
  CHECK(pool.Next(0, 0).shard == 0);
  CHECK(pool.Next(1, 0).shard == 1);
  // Worker 0 asks ahead (epoch 1 shard 0), then reports its lease on its own.
  ShardGrant g = pool.Next(0, 1);
  CHECK(g.epoch == 1);
  CHECK(pool.Complete(0, 0, 0));
  g = pool.EvaluationOnly(2);
  CHECK(g.kind == ShardGrant::Kind::kNone);
  CHECK_FALSE(g.evaluate);  // worker 1 still trains epoch 0
  CHECK(pool.Complete(1, 0, 1));
  g = pool.EvaluationOnly(2);
  CHECK(g.kind == ShardGrant::Kind::kNone);
  CHECK(g.evaluate);
  CHECK(g.eval_epoch == 0);
  // Given once; nothing was leased by the report-only asks.
  CHECK_FALSE(pool.EvaluationOnly(3).evaluate);
  const std::vector<ShardLease> out = pool.OutstandingLeases();
  REQUIRE(out.size() == 1);
  CHECK(out[0].epoch == 1);
  CHECK(out[0].shard == 0);
  CHECK(pool.Next(1, 3).shard == 1);  // leasing goes on where it was
}

TEST_CASE("ShardPool: without lockstep a late epoch is still evaluated in order", "[scheduler]") {
  ShardPool pool(40, 10, 2, 2, /*lockstep=*/false);  // 2 shards per epoch
  // Worker w gets epoch w / 2, shard w % 2.
  for (uint32_t w = 0; w < 4; ++w) REQUIRE(pool.Next(w, 0).kind == ShardGrant::Kind::kLease);
  // Epoch 1 finishes before epoch 0's last shard.
  CHECK(pool.Complete(0, 0, 0));
  CHECK(pool.Complete(2, 1, 0));
  CHECK(pool.Complete(3, 1, 1));
  ShardGrant g = pool.Next(0, 1);
  CHECK(g.kind == ShardGrant::Kind::kIdle);  // worker 1's lease is still out
  CHECK(g.idle_until == 2);
  CHECK_FALSE(g.evaluate);
  CHECK(pool.Complete(1, 0, 1));  // now both close
  g = pool.Next(0, 2);
  CHECK(g.evaluate);
  CHECK(g.eval_epoch == 0);
  g = pool.Next(1, 2);
  CHECK(g.evaluate);
  CHECK(g.eval_epoch == 1);
  CHECK(pool.finished());
  // Completions of leases that are not outstanding are ignored.
  CHECK_FALSE(pool.Complete(1, 0, 1));
  CHECK_FALSE(pool.Complete(0, 9, 0));
  CHECK(pool.Next(3, 3).kind == ShardGrant::Kind::kDone);
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
  ShardGrant a = pool.Next(0, 0);  // shard 0: clocks [0, 2)
  ShardGrant b = pool.Next(1, 0);  // shard 1: clocks [0, 1)
  REQUIRE(a.kind == ShardGrant::Kind::kLease);
  REQUIRE(b.kind == ShardGrant::Kind::kLease);
  // The worker with the short shard idles until 2, races there and closes the epoch.
  ShardGrant idle = pool.Next(1, 1);
  REQUIRE(idle.kind == ShardGrant::Kind::kIdle);
  REQUIRE(idle.idle_until == 2);
  ShardGrant close = pool.Next(1, 2);
  CHECK(close.kind == ShardGrant::Kind::kDone);
  CHECK(close.evaluate);
  CHECK(close.eval_version == 2);
  // A worker that asks at clock 1 (its lease ended there) must not leave yet.
  ShardGrant late = pool.Next(0, 1);
  CHECK(late.kind == ShardGrant::Kind::kIdle);
  CHECK(late.idle_until == 2);
  CHECK(pool.Next(0, 2).kind == ShardGrant::Kind::kDone);
}

}  // namespace
}  // namespace pst

// Failures, elastic workers, rollback and persistence.
namespace pst {
namespace {

using Kind = ShardGrant::Kind;

// Sample ranges of one epoch, to check that they cover it exactly once.
class Coverage {
 public:
  explicit Coverage(uint64_t samples) : count_(samples, 0) {}
  void Add(uint64_t begin, uint64_t end) {
    REQUIRE(begin <= end);
    REQUIRE(end <= count_.size());
    for (uint64_t i = begin; i < end; ++i) ++count_[i];
  }
  void Add(const ShardGrant& g) { Add(g.sample_begin, g.sample_end); }
  // Samples covered other than once.
  uint64_t Wrong() const {
    uint64_t n = 0;
    for (int c : count_) n += c != 1;
    return n;
  }

 private:
  std::vector<int> count_;
};

TEST_CASE("ShardPool: lockstep worker dies mid-lease, another trains the rest", "[scheduler]") {
  // 120 samples, batch 10, 4 batches per shard: 3 shards of 40 per epoch.
  ShardPool pool(120, 10, 4, 2);
  Coverage epoch0(120);
  const ShardGrant a = pool.Next(0, 0), b = pool.Next(1, 0), c = pool.Next(2, 0);
  REQUIRE(c.kind == Kind::kLease);
  CHECK(c.shard == 2);
  CHECK(pool.OutstandingLeases() == std::vector<ShardLease>{{0, 0, 0, 0, 40, 0, 4},
                                                            {1, 0, 1, 40, 80, 0, 4},
                                                            {2, 0, 2, 80, 120, 0, 4}});
  // Worker 2 dies at clock 3; its pushes of clocks 0 and 1 made it.
  CHECK(pool.ReturnWorker(2, 2) == 20);
  CHECK(pool.ReturnWorker(2, 2) == 0);  // nothing left
  epoch0.Add(80, 100);
  CHECK(pool.pieces_waiting() == 1);
  CHECK(pool.OutstandingLeases().size() == 2);
  CHECK_FALSE(pool.Complete(2, 0, 2));

  // Worker 0 finishes at 4 and gets the rest of shard 2 before anything new.
  CHECK(pool.Complete(0, 0, 0));
  const ShardGrant piece = pool.Next(0, 4);
  REQUIRE(piece.kind == Kind::kLease);
  CHECK(piece.piece);
  CHECK(piece.epoch == 0);
  CHECK(piece.shard == 2);
  CHECK(piece.sample_begin == 100);
  CHECK(piece.sample_end == 120);
  CHECK_FALSE(piece.evaluate);
  CHECK(pool.pieces_waiting() == 0);
  // Worker 1 would have closed the epoch at 4; now it idles until the piece ends at 6.
  CHECK(pool.Complete(1, 0, 1));
  const ShardGrant idle = pool.Next(1, 4);
  CHECK(idle.kind == Kind::kIdle);
  CHECK(idle.idle_until == 6);
  CHECK(pool.Next(1, 5).idle_until == 6);
  CHECK(pool.epoch() == 0);

  // Worker 1 closes the epoch at 6, at version 6, and a new worker 7 joins.
  const ShardGrant close = pool.Next(1, 6);
  REQUIRE(close.kind == Kind::kLease);
  CHECK(close.evaluate);
  CHECK(close.eval_epoch == 0);
  CHECK(close.eval_version == 6);
  CHECK(close.epoch == 1);
  CHECK(close.shard == 0);
  CHECK_FALSE(close.piece);
  const ShardGrant joined = pool.Next(7, 6);
  CHECK(joined.epoch == 1);
  CHECK(joined.shard == 1);
  CHECK_FALSE(joined.evaluate);

  for (const ShardGrant& g : {a, b, piece}) epoch0.Add(g);
  CHECK(epoch0.Wrong() == 0);
}

TEST_CASE("ShardPool: lockstep death noticed after the epoch closed reopens it", "[scheduler]") {
  ShardPool pool(40, 10, 2, 2);  // 2 shards of 2 batches per epoch
  REQUIRE(pool.Next(0, 0).kind == Kind::kLease);
  REQUIRE(pool.Next(1, 0).kind == Kind::kLease);
  // Worker 0 closes epoch 0 at clock 2 and starts epoch 1.
  CHECK(pool.Complete(0, 0, 0));
  ShardGrant g = pool.Next(0, 2);
  REQUIRE(g.evaluate);
  CHECK(g.eval_version == 2);
  CHECK(g.epoch == 1);
  // Worker 1 dies before reporting; its push of clock 1 was lost.
  CHECK(pool.ReturnWorker(1, 1) == 10);
  CHECK_FALSE(pool.finished());
  // The rest of epoch 0 goes first; epoch 0 closes (and is evaluated) again.
  g = pool.Next(2, 2);
  REQUIRE(g.kind == Kind::kLease);
  CHECK(g.piece);
  CHECK(g.epoch == 0);
  CHECK(g.sample_begin == 30);
  CHECK(g.sample_end == 40);
  CHECK_FALSE(g.evaluate);
  CHECK(pool.Complete(2, 0, 1));
  g = pool.Next(2, 3);
  REQUIRE(g.kind == Kind::kLease);
  CHECK(g.evaluate);
  CHECK(g.eval_epoch == 0);
  CHECK(g.eval_version == 3);
  CHECK(g.epoch == 1);
  CHECK(g.shard == 1);
}

TEST_CASE("ShardPool: without lockstep a dead worker's rest goes to the next asker",
          "[scheduler]") {
  // 100 samples, batch 10, 2 batches per shard: 5 shards per epoch.
  ShardPool pool(100, 10, 2, 2, /*lockstep=*/false);
  Coverage epoch0(100);
  std::vector<ShardGrant> g;
  for (uint32_t w = 0; w < 3; ++w) g.push_back(pool.Next(w, 10 * w));  // clocks drift apart
  // Worker 1 (lease from its clock 10) dies after its clock 10.
  CHECK(pool.ReturnWorker(1, 11) == 10);
  epoch0.Add(20, 30);
  CHECK(pool.pieces_waiting() == 1);
  CHECK(pool.Complete(0, 0, 0));
  const ShardGrant piece = pool.Next(0, 2);
  REQUIRE(piece.kind == Kind::kLease);
  CHECK(piece.piece);
  CHECK(piece.shard == 1);
  CHECK(piece.sample_begin == 30);
  CHECK(piece.sample_end == 40);
  // Shards 3 and 4, then epoch 1 starts while epoch 0 is still open.
  std::vector<ShardGrant> more{pool.Next(3, 0), pool.Next(4, 0)};
  CHECK(more[1].shard == 4);
  const ShardGrant next_epoch = pool.Next(5, 0);
  CHECK(next_epoch.epoch == 1);
  CHECK(pool.Complete(2, 0, 2));
  CHECK(pool.Complete(3, 0, 3));
  CHECK(pool.Complete(4, 0, 4));
  // Only the piece is left: epoch 0 stays open until it is done.
  CHECK_FALSE(pool.Next(6, 0).evaluate);
  CHECK(pool.Complete(0, 0, 1));
  CHECK_FALSE(pool.Complete(0, 0, 1));
  const ShardGrant eval = pool.Next(7, 0);
  CHECK(eval.evaluate);
  CHECK(eval.eval_epoch == 0);
  for (const ShardGrant& x : {g[0], g[2], piece, more[0], more[1]}) epoch0.Add(x);
  CHECK(epoch0.Wrong() == 0);
}

// Regression: under ASP a worker that finished its own leases before another
// worker's death was noticed was told kDone and left; so was the replacement
// that joined meanwhile; the dead worker's rest then waited with no worker
// left, and the job failed.
TEST_CASE("ShardPool: without lockstep askers idle while another worker's lease may come back",
          "[scheduler]") {
  // 60 samples, batch 10, 3 batches per shard: 2 shards per epoch, 1 epoch.
  ShardPool pool(60, 10, 3, 1, /*lockstep=*/false);
  Coverage epoch0(60);
  const ShardGrant a = pool.Next(0, 0), b = pool.Next(1, 0);
  REQUIRE(a.kind == Kind::kLease);
  REQUIRE(b.kind == Kind::kLease);
  epoch0.Add(a);
  // Worker 0 asks ahead (at clock 3, its lease's end): worker 1's lease,
  // which also ends at clock 3, is out: idle one clock.
  ShardGrant g = pool.Next(0, 3);
  CHECK(g.kind == Kind::kIdle);
  CHECK(g.idle_until == 4);
  CHECK(pool.Complete(0, 0, 0));
  // Worker 1 died after its clock 0 (not noticed yet). Worker 0 and a
  // replacement (worker 2) ask: nothing to lease, worker 1's lease is out.
  for (uint32_t w : {0u, 2u}) {
    g = pool.Next(w, 5);
    CHECK(g.kind == Kind::kIdle);
    CHECK(g.idle_until == 6);  // past worker 1's lease end: one clock
    CHECK_FALSE(g.evaluate);
  }
  CHECK_FALSE(pool.finished());
  // The death is noticed: clock 0 made it, the rest comes back.
  CHECK(pool.ReturnWorker(1, 1) == 10);
  epoch0.Add(30, 40);
  const ShardGrant piece = pool.Next(2, 6);
  REQUIRE(piece.kind == Kind::kLease);
  CHECK(piece.piece);
  CHECK(piece.sample_begin == 40);
  CHECK(piece.sample_end == 60);
  epoch0.Add(piece);
  // Worker 0 has nothing to wait for but worker 2's piece, ending at clock 8.
  g = pool.Next(0, 6);
  CHECK(g.kind == Kind::kIdle);
  CHECK(g.idle_until == 8);
  // Worker 2, asking ahead during the piece's last step, waits for nobody.
  CHECK(pool.Next(2, 8).kind == Kind::kDone);
  CHECK(pool.Complete(2, 0, 1));
  g = pool.Next(0, 8);
  CHECK(g.kind == Kind::kDone);
  CHECK(g.evaluate);
  CHECK(pool.finished());
  CHECK(pool.DoneSamples(0) == 60);
  CHECK(epoch0.Wrong() == 0);
}

TEST_CASE("ShardPool: the anonymous Next(clock) gives the same schedule", "[scheduler]") {
  ShardPool named(100, 10, 3, 2), anonymous(100, 10, 3, 2);
  std::vector<uint64_t> next_ask(3, 0);
  for (uint64_t clock = 0; clock < 40; ++clock) {
    for (uint32_t w = 0; w < 3; ++w) {
      if (next_ask[w] != clock) continue;
      CAPTURE(clock, w);
      const ShardGrant g = named.Next(w, clock), h = anonymous.Next(clock);
      CHECK(g.kind == h.kind);
      CHECK(g.sample_begin == h.sample_begin);
      CHECK(g.evaluate == h.evaluate);
      CHECK(g.eval_version == h.eval_version);
      if (g.kind == Kind::kLease) {
        CHECK(named.Complete(w, g.epoch, g.shard));
        next_ask[w] = clock + (g.sample_end - g.sample_begin + 9) / 10;
      } else if (g.kind == Kind::kIdle) {
        next_ask[w] = g.idle_until;
      }
    }
    // Leases that ended by this clock are done; the rest are outstanding.
    for (const ShardLease& l : anonymous.OutstandingLeases()) {
      CHECK(l.worker == ShardPool::kAnonymousWorker);
      CHECK(l.start_clock + l.batches > clock);
    }
  }
  CHECK(named.finished());
  CHECK(anonymous.finished());
  CHECK(ShardPool::FromJson(anonymous.ToJson()).ok());
}

TEST_CASE("ShardPool: Complete counts each outstanding lease once", "[scheduler]") {
  for (bool lockstep : {true, false}) {
    CAPTURE(lockstep);
    ShardPool pool(100, 10, 2, 1, lockstep);
    const ShardGrant a = pool.Next(0, 0), b = pool.Next(1, 0);
    REQUIRE(a.kind == Kind::kLease);
    REQUIRE(b.kind == Kind::kLease);
    CHECK_FALSE(pool.Complete(1, 0, 0));  // someone else's lease
    CHECK_FALSE(pool.Complete(0, 0, 7));  // no such lease
    CHECK_FALSE(pool.Complete(0, 3, 0));  // no such epoch
    CHECK(pool.Complete(0, 0, 0));
    CHECK_FALSE(pool.Complete(0, 0, 0));  // retried request
    CHECK(pool.OutstandingLeases() == std::vector<ShardLease>{{1, 0, 1, 20, 40, 0, 2}});
    // A returned lease is no longer outstanding.
    CHECK(pool.ReturnWorker(1, 1) == 10);
    CHECK_FALSE(pool.Complete(1, 0, 1));
    CHECK(pool.OutstandingLeases().empty());
  }
}

TEST_CASE("ShardPool: lockstep rollback in the middle of an epoch", "[scheduler]") {
  // 200 samples, batch 10, 4 batches per shard: 5 shards of 40 per epoch.
  ShardPool pool(200, 10, 4, 2);
  REQUIRE(pool.Next(0, 0).shard == 0);
  REQUIRE(pool.Next(1, 0).shard == 1);
  CHECK(pool.Complete(0, 0, 0));
  CHECK(pool.Complete(1, 0, 1));
  const ShardGrant a = pool.Next(0, 4), b = pool.Next(1, 4);
  CHECK(a.shard == 2);
  CHECK(b.shard == 3);

  SECTION("to the clock the leases started at: the same leases again") {
    pool.Rollback(4);
    CHECK(pool.OutstandingLeases().empty());
    CHECK(pool.pieces_waiting() == 0);
    const ShardGrant a2 = pool.Next(0, 4), b2 = pool.Next(1, 4);
    CHECK(a2.shard == 2);
    CHECK_FALSE(a2.piece);
    CHECK(a2.sample_begin == a.sample_begin);
    CHECK(b2.shard == 3);
    CHECK(b2.sample_end == b.sample_end);
  }
  SECTION("into the leases: the first halves stay done") {
    pool.Rollback(6);
    CHECK(pool.OutstandingLeases().empty());
    CHECK(pool.pieces_waiting() == 2);
    CHECK_FALSE(pool.Complete(0, 0, 2));  // cut by the rollback
    Coverage epoch0(200);
    epoch0.Add(0, 80);
    epoch0.Add(80, 100);   // shard 2, clocks 4 and 5
    epoch0.Add(120, 140);  // shard 3, clocks 4 and 5
    const ShardGrant a2 = pool.Next(0, 6), b2 = pool.Next(1, 6);
    CHECK(a2.piece);
    CHECK(a2.shard == 2);
    CHECK(a2.sample_begin == 100);
    CHECK(a2.sample_end == 120);
    CHECK(b2.piece);
    CHECK(b2.shard == 3);
    CHECK(b2.sample_begin == 140);
    CHECK(b2.sample_end == 160);
    const ShardGrant c = pool.Next(0, 8);
    CHECK(c.shard == 4);
    CHECK_FALSE(c.piece);
    CHECK(pool.Next(1, 8).idle_until == 12);
    const ShardGrant close = pool.Next(1, 12);
    CHECK(close.evaluate);
    CHECK(close.eval_version == 12);
    for (const ShardGrant& g : {a2, b2, c}) epoch0.Add(g);
    CHECK(epoch0.Wrong() == 0);
  }
}

TEST_CASE("ShardPool: lockstep rollback across an epoch boundary", "[scheduler]") {
  // 120 samples, batch 10, 4 batches per shard: 3 shards of 40 per epoch.
  ShardPool pool(120, 10, 4, 2);
  REQUIRE(pool.Next(0, 0).shard == 0);
  REQUIRE(pool.Next(1, 0).shard == 1);
  const ShardGrant s2 = pool.Next(0, 4);
  CHECK(s2.shard == 2);
  CHECK(pool.Next(1, 4).idle_until == 8);
  const ShardGrant close = pool.Next(1, 8);
  REQUIRE(close.evaluate);
  CHECK(close.eval_version == 8);
  CHECK(close.epoch == 1);
  CHECK(pool.Next(0, 8).shard == 1);
  CHECK(pool.Next(1, 12).shard == 2);
  CHECK(pool.epoch() == 1);

  SECTION("before the closing clock: epoch 0 closes and is evaluated again") {
    pool.Rollback(6);
    CHECK(pool.epoch() == 0);
    CHECK(pool.pieces_waiting() == 1);
    Coverage epoch0(120);
    epoch0.Add(0, 80);
    epoch0.Add(80, 100);  // shard 2, clocks 4 and 5
    const ShardGrant piece = pool.Next(0, 6);
    CHECK(piece.piece);
    CHECK(piece.epoch == 0);
    CHECK(piece.sample_begin == 100);
    CHECK(piece.sample_end == 120);
    CHECK(pool.Next(1, 6).idle_until == 8);
    const ShardGrant again = pool.Next(1, 8);
    CHECK(again.evaluate);
    CHECK(again.eval_epoch == 0);
    CHECK(again.eval_version == 8);
    CHECK(again.epoch == 1);
    CHECK(again.shard == 0);
    CHECK_FALSE(again.piece);
    epoch0.Add(piece);
    CHECK(epoch0.Wrong() == 0);
  }
  SECTION("after the closing clock: epoch 0 stays closed and evaluated") {
    pool.Rollback(9);
    CHECK(pool.epoch() == 1);
    // Epoch 1's shards 0 and 1 were one batch in; shard 2 (leased at 12) is new again.
    CHECK(pool.pieces_waiting() == 2);
    Coverage epoch1(120);
    epoch1.Add(0, 10);
    epoch1.Add(40, 50);
    std::vector<ShardGrant> g{pool.Next(0, 9), pool.Next(1, 9), pool.Next(0, 12)};
    for (const ShardGrant& x : g) {
      CHECK(x.epoch == 1);
      CHECK_FALSE(x.evaluate);
      epoch1.Add(x);
    }
    CHECK(g[0].piece);
    CHECK(g[1].piece);
    CHECK(g[2].shard == 2);
    CHECK_FALSE(g[2].piece);
    CHECK(epoch1.Wrong() == 0);
  }
}

TEST_CASE("ShardPool: rollback to clock 0 starts over", "[scheduler]") {
  for (bool lockstep : {true, false}) {
    CAPTURE(lockstep);
    ShardPool pool(100, 10, 2, 2, lockstep), fresh(100, 10, 2, 2, lockstep);
    std::vector<ShardGrant> before;
    for (uint64_t clock = 0; clock < 12; clock += 2) {
      for (uint32_t w = 0; w < 2; ++w) {
        const ShardGrant g = pool.Next(w, clock);
        if (g.kind == Kind::kLease) CHECK(pool.Complete(w, g.epoch, g.shard));
      }
    }
    CHECK(pool.epoch() == 1);
    pool.Rollback(0);
    CHECK(pool.epoch() == 0);
    CHECK(pool.pieces_waiting() == 0);
    CHECK(pool.OutstandingLeases().empty());
    CHECK_FALSE(pool.finished());
    const nlohmann::json j = pool.ToJson();
    CHECK(j["done"].empty());
    CHECK(j["closed"] == 0);
    CHECK(j["eval_handed_out"] == 0);
    for (uint64_t clock = 0; clock < 30; clock += 2) {
      for (uint32_t w = 0; w < 2; ++w) {
        CAPTURE(clock, w);
        const ShardGrant g = pool.Next(w, clock), h = fresh.Next(w, clock);
        CHECK(g.kind == h.kind);
        CHECK(g.epoch == h.epoch);
        CHECK(g.shard == h.shard);
        CHECK(g.sample_begin == h.sample_begin);
        CHECK(g.evaluate == h.evaluate);
        CHECK(g.eval_version == h.eval_version);
        if (g.kind == Kind::kLease) {
          CHECK(pool.Complete(w, g.epoch, g.shard));
          CHECK(fresh.Complete(w, h.epoch, h.shard));
        }
      }
    }
    CHECK(pool.finished());
  }
}

TEST_CASE("ShardPool: JSON round trip keeps the whole state", "[scheduler]") {
  for (bool lockstep : {true, false}) {
    CAPTURE(lockstep);
    ShardPool pool(200, 10, 4, 3, lockstep);
    REQUIRE(pool.Next(0, 0).kind == Kind::kLease);
    REQUIRE(pool.Next(1, 0).kind == Kind::kLease);
    REQUIRE(pool.Next(2, 0).kind == Kind::kLease);
    CHECK(pool.Complete(0, 0, 0));
    CHECK(pool.ReturnWorker(1, 3) == 30);
    REQUIRE(pool.Next(0, 4).kind == Kind::kLease);

    const std::string text = pool.ToJson().dump();
    StatusOr<ShardPool> copy = ShardPool::FromJson(nlohmann::json::parse(text));
    REQUIRE(copy.ok());
    CHECK(copy->ToJson() == pool.ToJson());
    CHECK(copy->OutstandingLeases() == pool.OutstandingLeases());
    CHECK(copy->pieces_waiting() == pool.pieces_waiting());
    CHECK(copy->epoch() == pool.epoch());
    CHECK(copy->lockstep() == lockstep);
    // Both go on the same way.
    for (uint64_t clock = 4; clock < 40; ++clock) {
      for (uint32_t w = 0; w < 3; ++w) {
        CAPTURE(clock, w);
        for (const ShardLease& l : pool.OutstandingLeases()) {
          if (l.worker == w && l.start_clock + l.batches <= clock) {
            CHECK(pool.Complete(w, l.epoch, l.shard) == copy->Complete(w, l.epoch, l.shard));
          }
        }
        const ShardGrant g = pool.Next(w, clock), h = copy->Next(w, clock);
        CHECK(g.kind == h.kind);
        CHECK(g.sample_begin == h.sample_begin);
        CHECK(g.idle_until == h.idle_until);
        CHECK(g.evaluate == h.evaluate);
      }
    }
    CHECK(copy->ToJson() == pool.ToJson());
  }
}

TEST_CASE("ShardPool: FromJson rejects malformed and inconsistent state", "[scheduler]") {
  ShardPool pool(200, 10, 4, 3);
  REQUIRE(pool.Next(0, 0).kind == Kind::kLease);
  REQUIRE(pool.Next(1, 0).kind == Kind::kLease);
  CHECK(pool.Complete(0, 0, 0));
  CHECK(pool.ReturnWorker(1, 1) == 10);
  const nlohmann::json good = pool.ToJson();
  REQUIRE(ShardPool::FromJson(good).ok());
  REQUIRE(good["done"].size() == 2);
  REQUIRE(good["pieces"].size() == 1);

  auto code = [](const nlohmann::json& j) { return ShardPool::FromJson(j).status().code(); };
  auto with = [&](const char* key, nlohmann::json value) {
    nlohmann::json j = good;
    j[key] = std::move(value);
    return code(j);
  };
  auto without = [&](const char* key) {
    nlohmann::json j = good;
    j.erase(key);
    return code(j);
  };
  const StatusCode kBad = StatusCode::kInvalidArgument, kLost = StatusCode::kDataLoss;
  CHECK(code(nlohmann::json::array()) == kBad);
  CHECK(code(nlohmann::json()) == kBad);
  CHECK(with("format", "pst.shard_pool/2") == kBad);
  for (const char* key : {"format", "num_samples", "batch_size", "batches_per_shard", "epochs",
                          "lockstep", "epoch", "next_shard", "closed", "eval_handed_out",
                          "epoch_clocks", "outstanding", "done", "pieces"}) {
    CAPTURE(key);
    CHECK(without(key) == kBad);
  }
  CHECK(with("num_samples", 0) == kBad);
  CHECK(with("num_samples", -200) == kBad);
  CHECK(with("num_samples", 200.5) == kBad);
  CHECK(with("num_samples", "200") == kBad);
  CHECK(with("batch_size", uint64_t{1} << 40) == kBad);
  CHECK(with("batch_size", 0) == kBad);
  CHECK(with("lockstep", 1) == kBad);
  CHECK(with("epoch", 3) == kBad);
  CHECK(with("next_shard", 6) == kBad);
  CHECK(with("closed", 4) == kBad);
  CHECK(with("eval_handed_out", 1) == kBad);  // more than closed
  CHECK(with("epoch_clocks", nlohmann::json::array()) == kBad);
  CHECK(with("epoch_clocks", {{0, 0, 0, 0}, {0, 0, 0}, {0, 0, 0, 0}}) == kBad);
  CHECK(with("done", {{0, 0, 0, 0, 40}}) == kBad);  // short row
  CHECK(with("done", {{0, 0, 0, 0, 40, 0}, {1, 0, 1, 40, 50, -1}}) == kBad);
  CHECK(with("pieces", {{0, 1, 50, 90}}) == kBad);                    // outside shard 1
  CHECK(with("pieces", {{0, 1, 60, 50}}) == kBad);                    // empty range
  CHECK(with("pieces", {{0, 9, 0, 10}}) == kBad);                     // no such shard
  CHECK(with("pieces", {{0, 1, 50, 80}, {0, 2, 80, 120}}) == kLost);  // not leased yet
  // Samples leased twice, or missing.
  CHECK(with("pieces", {{0, 1, 45, 80}}) == kLost);
  CHECK(with("pieces", {{0, 1, 60, 80}}) == kLost);
  CHECK(with("pieces", nlohmann::json::array()) == kLost);
  CHECK(with("outstanding", {{3, 0, 1, 50, 80, 0}}) == kLost);
  CHECK(with("next_shard", 1) == kLost);  // shard 1 is not leased, but has done parts
  CHECK(with("next_shard", 3) == kLost);  // shard 2 is leased, but nothing covers it
  // A closed epoch with a piece left.
  nlohmann::json closed = good;
  closed["closed"] = 1;
  CHECK(code(closed) == kLost);
  // With lockstep, a closed epoch that never opened the next one.
  ShardPool whole(80, 10, 4, 2);
  REQUIRE(whole.Next(0, 0).kind == Kind::kLease);
  REQUIRE(whole.Next(1, 0).kind == Kind::kLease);
  nlohmann::json stuck = whole.ToJson();
  REQUIRE(ShardPool::FromJson(stuck).ok());
  stuck["closed"] = 1;
  CHECK(code(stuck) == kLost);

  // Arbitrary damage never crashes: every field of every row set to odd values.
  std::vector<nlohmann::json> odd{-1, 0, 1, 3, 1e300, "x", UINT64_MAX};
  odd.push_back(nlohmann::json());
  odd.push_back(nlohmann::json::array());
  odd.push_back(nlohmann::json::object());
  for (const char* key : {"epoch_clocks", "outstanding", "done", "pieces"}) {
    for (size_t row = 0; row < good[key].size(); ++row) {
      for (size_t col = 0; col < good[key][row].size(); ++col) {
        for (const nlohmann::json& v : odd) {
          nlohmann::json j = good;
          j[key][row][col] = v;
          StatusOr<ShardPool> p = ShardPool::FromJson(j);
          if (p.ok()) CHECK(ShardPool::FromJson(p->ToJson()).ok());
        }
      }
    }
  }
  for (auto& [key, value] : good.items()) {
    for (const nlohmann::json& v : odd) {
      nlohmann::json j = good;
      j[key] = v;
      StatusOr<ShardPool> p = ShardPool::FromJson(j);
      if (p.ok()) CHECK(ShardPool::FromJson(p->ToJson()).ok());
    }
  }
}

// A batch trained by a worker at one of its clocks.
struct Trained {
  uint32_t worker;
  uint64_t clock;
  uint64_t begin, end;
};

struct SimWorker {
  bool alive = true;
  bool done = false;
  uint64_t clock = 0;    // clock of the next step or ask
  bool busy = false;     // training lease; batch clock - start is next
  bool pending = false;  // lease trained to its end, not yet reported
  ShardGrant lease;
  uint64_t start = 0;
  uint64_t batches = 0;
};

// Simulates workers that die (their last pushes possibly lost), join, and
// roll back to checkpoints, with or without lockstep. Each epoch must end up
// trained exactly once, each evaluation order must come when its epoch is
// complete, and the pool's view of outstanding leases must match the workers'.
struct SimStats {
  int deaths = 0, rollbacks = 0, reopened = 0, pieces = 0;
};

// One simulated run: a pool, its workers, and what they trained.
class FailureSim {
 public:
  FailureSim(uint32_t seed, bool lockstep) : rng_(seed), lockstep_(lockstep) {
    samples_ = 150 + Pick(150);
    batch_ = 5 + static_cast<uint32_t>(Pick(6));
    per_shard_ = 2 + static_cast<uint32_t>(Pick(3));
    epochs_ = 2 + static_cast<uint32_t>(Pick(3));
    pool_ = std::make_unique<ShardPool>(samples_, batch_, per_shard_, epochs_, lockstep);
    workers_.resize(2 + Pick(3));
    trained_.resize(epochs_);
  }

  SimStats Run() {
    CAPTURE(samples_, batch_, per_shard_, epochs_);
    for (int step = 0;; ++step) {
      REQUIRE(step < 200000);
      if (EveryoneDone()) {
        if (pool_->finished()) break;
        // Work came back after everyone left (a late death): someone new joins.
        uint64_t clock = 0;
        for (const SimWorker& x : workers_) clock = std::max(clock, x.clock);
        Join(clock);
      }
      if (step % 50 == 0) CheckOutstandingAndReload();
      InjectFaults();
      StepOneWorker();
    }
    CheckOutstanding();
    CHECK(pool_->pieces_waiting() == 0);
    for (uint32_t e = 0; e < epochs_; ++e) {
      CAPTURE(e);
      CHECK(Covered(e));
      REQUIRE(evals_.count(e));
      if (lockstep_) CHECK(evals_[e].first == LastClock(e));
    }
    return stats_;
  }

 private:
  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  uint64_t Pick(uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng_); }

  bool Covered(uint32_t e) const {
    Coverage c(samples_);
    for (const Trained& t : trained_[e]) c.Add(t.begin, t.end);
    return c.Wrong() == 0;
  }
  // One past the last clock at which epoch e was trained.
  uint64_t LastClock(uint32_t e) const {
    uint64_t last = 0;
    for (const Trained& t : trained_[e]) last = std::max(last, t.clock + 1);
    return last;
  }
  std::vector<uint32_t> Active() const {
    std::vector<uint32_t> active;
    for (uint32_t w = 0; w < workers_.size(); ++w)
      if (workers_[w].alive && !workers_[w].done) active.push_back(w);
    return active;
  }
  bool EveryoneDone() const {
    for (const SimWorker& x : workers_)
      if (x.alive && !x.done) return false;
    return true;
  }

  void Kill(uint32_t w) {
    SimWorker& x = workers_[w];
    uint64_t completed = x.clock;
    uint64_t expected = 0;
    if (x.busy || x.pending) {
      // The last one or two pushes may be lost.
      completed = std::max(x.start, x.clock - std::min<uint64_t>(x.clock, Pick(3)));
      auto& list = trained_[x.lease.epoch];
      for (auto it = list.begin(); it != list.end();) {
        const bool mine = it->worker == w && it->clock >= x.start;
        if (mine && it->clock >= completed) {
          it = list.erase(it);
        } else {
          if (mine) expected += it->end - it->begin;
          ++it;
        }
      }
    }
    const nlohmann::json closed = pool_->ToJson()["closed"];
    CHECK(pool_->ReturnWorker(w, completed) == expected);
    if (pool_->ToJson()["closed"] < closed) ++stats_.reopened;
    x = SimWorker{};
    x.alive = false;
    ++stats_.deaths;
  }

  void Join(uint64_t clock) {
    SimWorker x;
    x.clock = clock;
    workers_.push_back(x);
  }

  void Rollback() {
    // Every worker (done ones too) has completed its clocks < K.
    uint64_t min_clock = UINT64_MAX;
    for (const SimWorker& x : workers_)
      if (x.alive) min_clock = std::min(min_clock, x.clock);
    if (min_clock == UINT64_MAX) return;
    const uint64_t k = min_clock - std::min<uint64_t>(min_clock, Pick(12));
    pool_->Rollback(k);
    for (auto& list : trained_)
      list.erase(std::remove_if(list.begin(), list.end(), [&](const Trained& t) { return t.clock >= k; }),
                 list.end());
    for (auto it = evals_.begin(); it != evals_.end();)
      it = it->second.second >= k ? evals_.erase(it) : std::next(it);
    for (SimWorker& x : workers_) {
      if (!x.alive) continue;
      x = SimWorker{};
      x.clock = k;
    }
    ++stats_.rollbacks;
  }

  void InjectFaults() {
    if (stats_.rollbacks < 3 && Chance(0.004)) Rollback();
    if (stats_.deaths < 6 && Chance(0.01)) {
      const std::vector<uint32_t> alive = Active();
      if (alive.size() > 1) Kill(alive[Pick(alive.size())]);
    }
    if (Chance(0.005)) {
      uint64_t clock = UINT64_MAX;
      for (uint32_t w : Active()) clock = std::min(clock, workers_[w].clock);
      if (clock != UINT64_MAX) Join(clock);
    }
  }

  // An evaluation order: its epoch is complete and no lease of it is out.
  void CheckEvaluation(const ShardGrant& g, const SimWorker& x) {
    REQUIRE(g.eval_epoch < epochs_);
    CAPTURE(g.eval_epoch);
    CHECK(Covered(g.eval_epoch));
    for (const SimWorker& y : workers_)
      CHECK_FALSE(((y.busy || y.pending) && y.lease.epoch == g.eval_epoch && !lockstep_));
    if (lockstep_) {
      CHECK(g.eval_version == LastClock(g.eval_epoch));
      CHECK(g.eval_version <= x.clock);
    }
    evals_[g.eval_epoch] = {g.eval_version, x.clock};
  }

  void Ask(uint32_t w) {
    SimWorker& x = workers_[w];
    if (x.pending) {
      CHECK(pool_->Complete(w, x.lease.epoch, x.lease.shard));
      CHECK_FALSE(pool_->Complete(w, x.lease.epoch, x.lease.shard));
      x.pending = false;
    }
    for (;;) {
      const ShardGrant g = pool_->Next(w, x.clock);
      if (g.evaluate) CheckEvaluation(g, x);
      switch (g.kind) {
        case Kind::kLease:
          REQUIRE(g.epoch < epochs_);
          REQUIRE(g.sample_begin < g.sample_end);
          REQUIRE(g.sample_end <= samples_);
          stats_.pieces += g.piece;
          x.busy = true;
          x.lease = g;
          x.start = x.clock;
          x.batches = (g.sample_end - g.sample_begin + batch_ - 1) / batch_;
          return;
        case Kind::kIdle:
          REQUIRE(g.idle_until > x.clock);
          x.clock = g.idle_until;  // empty pushes up to there
          return;
        case Kind::kDone:
          // A worker evaluates and then asks again; otherwise it leaves.
          if (g.evaluate) continue;
          x.done = true;
          return;
        case Kind::kNone:
          FAIL("Next answered kNone");
      }
    }
  }

  void Train(uint32_t w) {
    SimWorker& x = workers_[w];
    const uint64_t i = x.clock - x.start;
    const uint64_t begin = x.lease.sample_begin + i * batch_;
    trained_[x.lease.epoch].push_back({w, x.clock, begin, std::min(x.lease.sample_end, begin + batch_)});
    ++x.clock;
    if (i + 1 == x.batches) {
      x.busy = false;
      x.pending = true;
    }
  }

  // One step of the worker with the lowest clock (lockstep) or a random one.
  void StepOneWorker() {
    const std::vector<uint32_t> active = Active();
    if (active.empty()) return;
    uint32_t w = active[Pick(active.size())];
    if (lockstep_) {
      for (uint32_t v : active)
        if (workers_[v].clock < workers_[w].clock) w = v;
    }
    if (workers_[w].busy) {
      Train(w);
    } else {
      Ask(w);
    }
  }

  void CheckOutstanding() {
    std::vector<ShardLease> expected;
    for (uint32_t w = 0; w < workers_.size(); ++w) {
      const SimWorker& x = workers_[w];
      if (x.busy || x.pending)
        expected.push_back({w, x.lease.epoch, x.lease.shard, x.lease.sample_begin, x.lease.sample_end, x.start,
                            x.batches});
    }
    CHECK(pool_->OutstandingLeases() == expected);
  }

  // The pool survives its JSON form unchanged (as a restarted scheduler reads it).
  void CheckOutstandingAndReload() {
    CheckOutstanding();
    StatusOr<ShardPool> copy = ShardPool::FromJson(nlohmann::json::parse(pool_->ToJson().dump()));
    REQUIRE(copy.ok());
    CHECK(copy->ToJson() == pool_->ToJson());
    pool_ = std::make_unique<ShardPool>(std::move(copy).value());
  }

  std::mt19937 rng_;
  bool lockstep_;
  uint64_t samples_ = 0;
  uint32_t batch_ = 0, per_shard_ = 0, epochs_ = 0;
  std::unique_ptr<ShardPool> pool_;
  std::vector<SimWorker> workers_;
  std::vector<std::vector<Trained>> trained_;
  std::map<uint32_t, std::pair<uint64_t, uint64_t>> evals_;  // epoch -> (version, asked at)
  SimStats stats_;
};

SimStats SimulateFailures(uint32_t seed, bool lockstep) {
  CAPTURE(seed, lockstep);
  return FailureSim(seed, lockstep).Run();
}

TEST_CASE("ShardPool: random deaths, joins and rollbacks train each epoch exactly once",
          "[scheduler]") {
  for (bool lockstep : {true, false}) {
    SimStats total;
    for (uint32_t seed = 1; seed <= 300; ++seed) {
      const SimStats s = SimulateFailures(seed, lockstep);
      total.deaths += s.deaths;
      total.rollbacks += s.rollbacks;
      total.reopened += s.reopened;
      total.pieces += s.pieces;
    }
    // The seeds exercise every path.
    CAPTURE(lockstep, total.deaths, total.rollbacks, total.reopened, total.pieces);
    CHECK(total.deaths > 100);
    CHECK(total.rollbacks > 50);
    CHECK(total.pieces > 100);
    if (lockstep) CHECK(total.reopened > 0);
  }
}

TEST_CASE("ShardPool: DoneSamples counts finished and returned batches once", "[scheduler]") {
  // 10 samples, batches of 2, 2 batches per shard: shards of 4, 4 and 2 samples.
  ShardPool pool(10, 2, 2, 2, /*lockstep=*/true);
  const ShardGrant a = pool.Next(0, 0);  // worker 0: shard 0, clocks [0, 2)
  const ShardGrant b = pool.Next(1, 0);  // worker 1: shard 1, clocks [0, 2)
  REQUIRE(a.kind == ShardGrant::Kind::kLease);
  REQUIRE(b.kind == ShardGrant::Kind::kLease);
  CHECK(pool.DoneSamples(0) == 0);
  CHECK(pool.Complete(0, a.epoch, a.shard));
  CHECK(pool.DoneSamples(0) == 4);
  CHECK_FALSE(pool.Complete(0, a.epoch, a.shard));  // a retry counts nothing
  CHECK(pool.DoneSamples(0) == 4);
  // Worker 1 dies after one of its two batches: 2 samples done, 2 go back.
  CHECK(pool.ReturnWorker(1, 1) == 2);
  CHECK(pool.DoneSamples(0) == 6);
  CHECK(pool.DoneSamples(1) == 0);
}

}  // namespace
}  // namespace pst
