#include "ps/dense_optimizer.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "common/optimizer_catalog.h"

namespace pst {
namespace {

TEST_CASE("DenseOptimizerFactories: every catalogued rule has exactly one factory", "[ps]") {
  std::vector<std::string> catalogued;
  for (const DenseOptimizerInfo& rule : DenseOptimizers()) catalogued.push_back(rule.name);
  std::sort(catalogued.begin(), catalogued.end());
  CHECK(DenseOptimizerFactories::Builtin().Names() == catalogued);
}

TEST_CASE("DenseOptimizerFactories: Create builds each rule with the catalog's slots", "[ps]") {
  for (const DenseOptimizerInfo& rule : DenseOptimizers()) {
    INFO(rule.name);
    OptimizerSpec spec;
    spec.kind = rule.kind;
    auto opt = Optimizer::Create(spec, 3);
    REQUIRE(opt.ok());
    CHECK((*opt)->SlotNames() == rule.slots);
    CHECK((*opt)->size() == 3);
    for (size_t i = 0; i < rule.slots.size(); ++i) {
      REQUIRE((*opt)->slot(i) != nullptr);
      CHECK((*opt)->slot(i)[2] == 0.0f);
    }
  }
}

TEST_CASE("DenseOptimizerFactories: Register refuses unknown, duplicate and empty factories",
          "[ps]") {
  DenseOptimizerFactories mine;
  auto make = [](DenseOptimizerState) -> std::unique_ptr<Optimizer> { return nullptr; };
  CHECK(mine.Register("rmsprop", make).code() == StatusCode::kNotFound);
  CHECK(mine.Register("sgd", nullptr).code() == StatusCode::kInvalidArgument);
  REQUIRE(mine.Register("sgd", make).ok());
  CHECK(mine.Register("sgd", make).code() == StatusCode::kAlreadyExists);
  CHECK(mine.Find("sgd") != nullptr);
  CHECK(mine.Find("adam") == nullptr);
  CHECK(mine.Names() == std::vector<std::string>{"sgd"});
}

}  // namespace
}  // namespace pst
