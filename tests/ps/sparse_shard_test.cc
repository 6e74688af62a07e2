#include "ps/sparse_shard.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <vector>

namespace pst {
namespace {

SparseTableOptions Table(const std::string& name, uint32_t dim) {
  SparseTableOptions o;
  o.name = name;
  o.dim = dim;
  o.optimizer.name = "sgd";
  o.optimizer.params = {{"lr", 1.0}};
  return o;
}

std::unique_ptr<SparseShard> Make(SparseShardOptions o) {
  auto s = SparseShard::Create(o);
  REQUIRE(s.ok());
  return std::move(s).value();
}

std::vector<float> Row(SparseShard& s, SparseTable& t, uint64_t id) {
  std::vector<float> out(t.dim());
  REQUIRE(s.Pull(t, {&id, 1}, 0, out.data()).ok());
  return out;
}

TEST_CASE("SparseShard ASP: each push applies on arrival with its own mean", "[ps]") {
  SparseShardOptions o;
  o.tables = {Table("a", 2), Table("b", 3)};
  auto s = Make(o);
  SparseTable* a = s->FindTable("a");
  REQUIRE(a != nullptr);
  REQUIRE(s->FindTable("c") == nullptr);
  const uint64_t id = 5;
  const std::vector<float> init = Row(*s, *a, id);
  const std::vector<float> g = {4, -8};
  REQUIRE(s->Push(0, 0, *a, {&id, 1}, g.data(), 4).ok());
  std::vector<float> after = Row(*s, *a, id);
  CHECK(after[0] == init[0] - 1.0f);
  CHECK(after[1] == init[1] + 2.0f);
  CHECK(s->version(*a) == 1);
  CHECK(s->version(*s->FindTable("b")) == 0);
  CHECK(s->Push(0, 1, *a, {&id, 1}, g.data(), 0).code() == StatusCode::kInvalidArgument);
}

TEST_CASE("SparseShard BSP: a clock applies the sum over workers once all pushed", "[ps]") {
  SparseShardOptions o;
  o.tables = {Table("e", 1)};
  o.consistency = Consistency::kBsp;
  o.num_workers = 2;
  auto s = Make(o);
  SparseTable& t = *s->FindTable("e");
  const std::vector<uint64_t> ids0 = {1, 2}, ids1 = {2, 3};
  const float init1 = Row(*s, t, 1)[0], init2 = Row(*s, t, 2)[0], init3 = Row(*s, t, 3)[0];
  const std::vector<float> g0 = {1, 2}, g1 = {4, 8};
  REQUIRE(s->Push(0, 0, t, ids0, g0.data(), 2).ok());
  std::vector<float> out(1);
  const uint64_t one = 1;
  CHECK(s->Pull(t, {&one, 1}, 1, out.data()).code() == StatusCode::kUnavailable);
  CHECK(Row(*s, t, 1)[0] == init1);  // nothing applied yet
  CHECK(s->Push(0, 0, t, ids0, g0.data(), 2).code() == StatusCode::kAlreadyExists);
  CHECK(s->Push(2, 0, t, ids0, g0.data(), 2).code() == StatusCode::kInvalidArgument);
  REQUIRE(s->Push(1, 0, t, ids1, g1.data(), 2).ok());
  CHECK(s->version(t) == 1);
  REQUIRE(s->Pull(t, {&one, 1}, 1, out.data()).ok());
  // Mean over the 4 samples of both workers: id 2 got 2 + 4.
  CHECK(Row(*s, t, 1)[0] == init1 - 1.0f * (1.0f * 0.25f));
  CHECK(Row(*s, t, 2)[0] == init2 - 1.0f * (6.0f * 0.25f));
  CHECK(Row(*s, t, 3)[0] == init3 - 1.0f * (8.0f * 0.25f));
  CHECK(s->Push(0, 0, t, ids0, g0.data(), 2).code() == StatusCode::kFailedPrecondition);
  CHECK(s->Push(0, 17, t, ids0, g0.data(), 2).code() == StatusCode::kOutOfRange);
  // A later clock completed first waits for the earlier one, then both apply.
  REQUIRE(s->Push(0, 2, t, {}, nullptr, 0).ok());
  REQUIRE(s->Push(1, 2, t, {}, nullptr, 0).ok());
  CHECK(s->version(t) == 1);
  REQUIRE(s->Push(0, 1, t, {}, nullptr, 0).ok());
  REQUIRE(s->Push(1, 1, t, {}, nullptr, 0).ok());
  CHECK(s->version(t) == 3);
}

TEST_CASE("SparseShard BSP: clocks follow the roster as workers leave and join", "[ps]") {
  SparseShardOptions o;
  o.tables = {Table("e", 1), Table("f", 1)};
  o.consistency = Consistency::kBsp;
  o.num_workers = 2;
  auto s = Make(o);
  SparseTable& e = *s->FindTable("e");
  SparseTable& f = *s->FindTable("f");
  const uint64_t id = 7;
  const float init = Row(*s, e, id)[0];
  const float g0 = 2, g1 = 6;
  // Clock 0: both push "e"; worker 1 dies after pushing clock 1 of "e" only.
  for (uint32_t r : {0u, 1u}) {
    REQUIRE(s->Push(r, 0, e, {&id, 1}, r == 0 ? &g0 : &g1, 1).ok());
    REQUIRE(s->Push(r, 0, f, {}, nullptr, 0).ok());
  }
  REQUIRE(s->Push(1, 1, e, {&id, 1}, &g1, 1).ok());
  REQUIRE(s->Push(0, 1, e, {}, nullptr, 0).ok());
  CHECK(s->version(e) == 2);
  CHECK(s->version(f) == 1);  // waits for worker 1's clock 1
  auto done = s->RemoveWorker(1);
  REQUIRE(done.ok());
  CHECK(*done == 1);  // clock 1 is not complete on every table
  CHECK(s->version(f) == 1);  // still waits for worker 0
  REQUIRE(s->Push(0, 1, f, {}, nullptr, 0).ok());
  CHECK(s->version(f) == 2);
  // Clock 0: (2 + 6) / 2 samples; clock 1: worker 1's 6 over its 1 sample.
  CHECK(Row(*s, e, id)[0] == init - 4.0f - 6.0f);
  CHECK(s->Push(1, 2, e, {}, nullptr, 0).code() == StatusCode::kFailedPrecondition);
  CHECK(s->RemoveWorker(1).status().code() == StatusCode::kNotFound);
  CHECK(s->Push(5, 2, e, {}, nullptr, 0).code() == StatusCode::kInvalidArgument);
  // Worker 5 joins from clock 4: clocks 2 and 3 wait for worker 0 only.
  CHECK(s->CheckAddWorker(5, 1).code() == StatusCode::kFailedPrecondition);
  REQUIRE(s->AddWorker(5, 4).ok());
  CHECK(s->AddWorker(5, 4).code() == StatusCode::kAlreadyExists);
  CHECK(s->Push(5, 3, e, {}, nullptr, 0).code() == StatusCode::kFailedPrecondition);
  for (uint64_t c : {2u, 3u}) REQUIRE(s->Push(0, c, e, {}, nullptr, 0).ok());
  CHECK(s->version(e) == 4);
  REQUIRE(s->Push(0, 4, e, {}, nullptr, 0).ok());
  CHECK(s->version(e) == 4);  // waits for worker 5
  REQUIRE(s->Push(5, 4, e, {&id, 1}, &g0, 1).ok());
  CHECK(s->version(e) == 5);
  // With every worker gone nothing applies; a worker joining later starts
  // the clocks again from its own.
  REQUIRE(s->RemoveWorker(0).ok());
  REQUIRE(s->RemoveWorker(5).ok());
  CHECK(s->version(e) == 5);
  REQUIRE(s->AddWorker(0, 9).ok());
  REQUIRE(s->Push(0, 9, e, {}, nullptr, 0).ok());
  CHECK(s->version(e) == 10);
  // After a restore the roster is exactly the given ranks.
  REQUIRE(s->ResetRoster({3}, 10).ok());
  CHECK(s->Push(0, 10, e, {}, nullptr, 0).code() == StatusCode::kInvalidArgument);
  REQUIRE(s->Push(3, 10, e, {}, nullptr, 0).ok());
  CHECK(s->version(e) == 11);
}

TEST_CASE("SparseShard BSP: a clock sums in data order, whatever arrives first or who pushes",
          "[ps]") {
  // Batch b (data order 100 * b) has gradient g[b] for the id, values whose
  // float sum depends on the order of addition: (1e8 + -1e8) + 1 = 1 but
  // (1e8 + 1) + -1e8 = 0. Which rank pushes which batch and the order they
  // arrive in vary; the sum is (g0 + g1) + g2 every time.
  SparseShardOptions o;
  o.tables = {Table("e", 1)};
  o.consistency = Consistency::kBsp;
  o.num_workers = 3;
  const uint64_t id = 11;
  const std::vector<float> g = {1e8f, -1e8f, 1.0f};
  REQUIRE((g[0] + g[2]) + g[1] != (g[0] + g[1]) + g[2]);
  std::vector<uint32_t> arrival = {0, 1, 2};
  do {
    std::vector<uint32_t> ranks = {0, 1, 2};  // ranks[b] pushes batch b
    do {
      auto s = Make(o);
      SparseTable& t = *s->FindTable("e");
      const float init = Row(*s, t, id)[0];
      for (uint32_t b : arrival)
        REQUIRE(s->Push(ranks[b], 0, t, {&id, 1}, &g[b], 1, 100 * b).ok());
      REQUIRE(s->version(t) == 1);
      CHECK(Row(*s, t, id)[0] - init == -1.0f / 3.0f);
    } while (std::next_permutation(ranks.begin(), ranks.end()));
  } while (std::next_permutation(arrival.begin(), arrival.end()));
}

TEST_CASE("SparseShard: only ids of the shard's slots are served", "[ps]") {
  auto map = SlotMap::Even(16, 2);
  REQUIRE(map.ok());
  SparseShardOptions o;
  o.tables = {Table("e", 1)};
  o.slot_map = *map;
  o.shard = 1;
  auto s = Make(o);
  uint64_t mine = 0, theirs = 0;
  while (map->ShardOfId(mine) != 1) ++mine;
  while (map->ShardOfId(theirs) != 0) ++theirs;
  CHECK(s->CheckOwned(std::vector<uint64_t>{mine}).ok());
  CHECK(s->CheckOwned(std::vector<uint64_t>{mine, theirs}).code() ==
        StatusCode::kInvalidArgument);
  o.shard = 2;
  CHECK_FALSE(SparseShard::Create(o).ok());
}

TEST_CASE("SparseShard: eviction runs as versions advance", "[ps]") {
  SparseShardOptions o;
  SparseTableOptions t = Table("e", 1);
  t.evict_after_steps = 4;
  o.tables = {t};
  auto s = Make(o);
  SparseTable& table = *s->FindTable("e");
  const float g = 1;
  uint64_t old_id = 100;
  REQUIRE(s->Push(0, 0, table, {&old_id, 1}, &g, 1).ok());
  for (uint64_t clock = 1; clock < 10; ++clock) {
    uint64_t id = clock;
    REQUIRE(s->Push(0, clock, table, {&id, 1}, &g, 1).ok());
  }
  CHECK(table.FindRow(old_id) == nullptr);
  CHECK(table.FindRow(9) != nullptr);
  CHECK(table.stats().evicted > 0);
}

TEST_CASE("SparseShard: bad options refused", "[ps]") {
  SparseShardOptions o;
  o.tables = {Table("e", 1), Table("e", 2)};
  CHECK_FALSE(SparseShard::Create(o).ok());
  o.tables = {Table("e", 1)};
  o.num_workers = 0;
  CHECK_FALSE(SparseShard::Create(o).ok());
  o.num_workers = 1;
  o.max_clocks_ahead = 0;
  CHECK_FALSE(SparseShard::Create(o).ok());
}

}  // namespace
}  // namespace pst
