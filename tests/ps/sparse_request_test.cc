#include "ps/sparse_request.h"

#include <capnp/message.h>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <vector>

namespace pst {
namespace {

std::unique_ptr<SparseShard> TwoTables(std::optional<SlotMap> map = std::nullopt) {
  SparseShardOptions o;
  for (auto [name, dim] : {std::pair{"user", 4u}, std::pair{"item", 2u}}) {
    SparseTableOptions t;
    t.name = name;
    t.dim = dim;
    o.tables.push_back(t);
  }
  o.slot_map = std::move(map);
  auto s = SparseShard::Create(o);
  REQUIRE(s.ok());
  return std::move(s).value();
}

struct Push {
  capnp::MallocMessageBuilder msg;
  proto::SparsePushRequest::Builder req = msg.initRoot<proto::SparsePushRequest>();
  Push(const std::string& table, const std::vector<uint64_t>& ids, uint32_t samples = 8) {
    req.setTable(table);
    auto list = req.initIds(uint32_t(ids.size()));
    for (size_t i = 0; i < ids.size(); ++i) list.set(uint32_t(i), ids[i]);
    req.setSampleCount(samples);
    req.setClock(3);
    req.setRank(1);
  }
};

struct Pull {
  capnp::MallocMessageBuilder msg;
  proto::SparsePullRequest::Builder req = msg.initRoot<proto::SparsePullRequest>();
  Pull(const std::string& table, const std::vector<uint64_t>& ids) {
    req.setTable(table);
    auto list = req.initIds(uint32_t(ids.size()));
    for (size_t i = 0; i < ids.size(); ++i) list.set(uint32_t(i), ids[i]);
    req.setMinVersion(2);
  }
};

TEST_CASE("DecodeSparsePush: a good push decodes, nothing is applied by decoding", "[ps]") {
  auto shard = TwoTables();
  Push p("item", {7, 9});
  std::vector<float> grads = {1, 2, 3, 4};
  const FloatFrame frame{grads.data(), grads.size()};
  auto call = DecodeSparsePush(p.req.asReader(), {&frame, 1}, *shard, {});
  REQUIRE(call.ok());
  CHECK(call->table == shard->FindTable("item"));
  CHECK(call->ids == std::vector<uint64_t>{7, 9});
  CHECK(call->grads == grads.data());
  CHECK(call->sample_count == 8);
  CHECK(call->clock == 3);
  CHECK(call->rank == 1);
  CHECK(shard->FindTable("item")->stats().rows == 0);
}

TEST_CASE("DecodeSparsePush: unknown table names the known ones", "[ps]") {
  auto shard = TwoTables();
  Push p("users", {7});
  std::vector<float> grads(4);
  const FloatFrame frame{grads.data(), grads.size()};
  auto call = DecodeSparsePush(p.req.asReader(), {&frame, 1}, *shard, {});
  REQUIRE_FALSE(call.ok());
  CHECK(call.status().code() == StatusCode::kNotFound);
  CHECK(call.status().message().find("item, user") != std::string::npos);
}

TEST_CASE("DecodeSparsePush: dim mismatch and missing or extra frames", "[ps]") {
  auto shard = TwoTables();
  Push p("user", {1, 2});
  std::vector<float> grads(2 * 4 + 1);
  const FloatFrame wrong{grads.data(), grads.size()};
  auto bad = DecodeSparsePush(p.req.asReader(), {&wrong, 1}, *shard, {});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == StatusCode::kInvalidArgument);
  CHECK(bad.status().message().find("dim 4") != std::string::npos);
  CHECK_FALSE(DecodeSparsePush(p.req.asReader(), {}, *shard, {}).ok());
  const FloatFrame two[2] = {{grads.data(), 8}, {grads.data(), 8}};
  CHECK_FALSE(DecodeSparsePush(p.req.asReader(), two, *shard, {}).ok());
  const FloatFrame right{grads.data(), 8};
  CHECK(DecodeSparsePush(p.req.asReader(), {&right, 1}, *shard, {}).ok());
}

TEST_CASE("DecodeSparsePush: too many ids, repeated ids, zero samples, non-finite values",
          "[ps]") {
  auto shard = TwoTables();
  SparseRequestLimits limits;
  limits.max_ids = 3;
  std::vector<float> grads(8, 0.5f);
  {
    Push p("item", {1, 2, 3, 4});
    const FloatFrame f{grads.data(), 8};
    auto s = DecodeSparsePush(p.req.asReader(), {&f, 1}, *shard, limits);
    REQUIRE_FALSE(s.ok());
    CHECK(s.status().message().find("too many ids") != std::string::npos);
    CHECK(s.status().code() == StatusCode::kResourceExhausted);
  }
  {
    Push p("item", {1, 2, 1});
    const FloatFrame f{grads.data(), 6};
    auto s = DecodeSparsePush(p.req.asReader(), {&f, 1}, *shard, limits);
    REQUIRE_FALSE(s.ok());
    CHECK(s.status().message().find("id 1 is listed twice") != std::string::npos);
  }
  {
    Push p("item", {1, 2}, 0);
    const FloatFrame f{grads.data(), 4};
    CHECK(DecodeSparsePush(p.req.asReader(), {&f, 1}, *shard, limits).status().code() ==
          StatusCode::kInvalidArgument);
  }
  {
    Push p("item", {1, 2});
    grads[3] = NAN;
    const FloatFrame f{grads.data(), 4};
    auto s = DecodeSparsePush(p.req.asReader(), {&f, 1}, *shard, limits);
    REQUIRE_FALSE(s.ok());
    CHECK(s.status().message().find("id 2") != std::string::npos);
  }
}

TEST_CASE("DecodeSparsePush: ids of another shard are refused", "[ps]") {
  auto map = SlotMap::Even(64, 2);
  REQUIRE(map.ok());
  auto shard = TwoTables(*map);
  uint64_t theirs = 0;
  while (map->ShardOfId(theirs) == 0) ++theirs;
  Push p("item", {theirs});
  std::vector<float> grads(2);
  const FloatFrame f{grads.data(), 2};
  auto s = DecodeSparsePush(p.req.asReader(), {&f, 1}, *shard, {});
  REQUIRE_FALSE(s.ok());
  CHECK(s.status().message().find("not shard 0") != std::string::npos);
}

TEST_CASE("DecodeSparsePull: good pull, and the same refusals", "[ps]") {
  auto shard = TwoTables();
  Pull ok("user", {4, 5, 6});
  auto call = DecodeSparsePull(ok.req.asReader(), {}, *shard, {});
  REQUIRE(call.ok());
  CHECK(call->ids.size() == 3);
  CHECK(call->min_version == 2);
  Pull unknown("nope", {1});
  CHECK(DecodeSparsePull(unknown.req.asReader(), {}, *shard, {}).status().code() ==
        StatusCode::kNotFound);
  Pull twice("user", {4, 4});
  CHECK_FALSE(DecodeSparsePull(twice.req.asReader(), {}, *shard, {}).ok());
  SparseRequestLimits limits;
  limits.max_ids = 2;
  CHECK(DecodeSparsePull(ok.req.asReader(), {}, *shard, limits).status().code() ==
        StatusCode::kResourceExhausted);
  // The size limit is checked before the table is looked up.
  Pull unknown_many("nope", {1, 2, 3});
  CHECK(DecodeSparsePull(unknown_many.req.asReader(), {}, *shard, limits).status().code() ==
        StatusCode::kResourceExhausted);
  std::vector<float> stray(4);
  const FloatFrame f{stray.data(), 4};
  CHECK_FALSE(DecodeSparsePull(ok.req.asReader(), {&f, 1}, *shard, {}).ok());
}

TEST_CASE("FindRepeatedId finds the repeat among many ids", "[ps]") {
  std::vector<uint64_t> ids;
  for (uint64_t i = 0; i < 100000; ++i) ids.push_back(i * 7919);
  CHECK_FALSE(FindRepeatedId(ids).has_value());
  ids.push_back(7919 * 500);
  CHECK(FindRepeatedId(ids) == std::optional<uint64_t>(7919 * 500));
  CHECK_FALSE(FindRepeatedId({}).has_value());
}

}  // namespace
}  // namespace pst
