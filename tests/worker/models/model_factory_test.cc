#include "worker/models/model_factory.h"

#include <catch2/catch.hpp>

namespace pst {
namespace {

TEST_CASE("CreateSparseModel: each kind declares its tables, unknown kinds are named",
          "[worker]") {
  SparseModelConfig config;
  config.num_fields = 3;
  config.num_dense = 2;
  config.hidden = {4};
  config.seed = 9;
  for (const auto& [kind, first_table, tables] :
       {std::tuple{"lr", "lr.rows", 2}, {"fm", "fm.rows", 2}, {"dlrm", "dlrm.emb", 5}}) {
    config.kind = kind;
    auto model = CreateSparseModel(config);
    REQUIRE(model.ok());
    INFO(kind);
    REQUIRE((*model)->tables().size() == static_cast<size_t>(tables));
    CHECK((*model)->tables()[0].name == first_table);
    CHECK(ValidateTables((*model)->tables()).ok());
  }
  config.kind = "fm";
  CHECK((*CreateSparseModel(config))->tables()[0].init.seed == 9);
  config.kind = "gbdt";
  auto bad = CreateSparseModel(config);
  REQUIRE(bad.status().code() == StatusCode::kInvalidArgument);
  CHECK(bad.status().message() == "unknown sparse model 'gbdt' (expected lr, fm or dlrm)");
}

}  // namespace
}  // namespace pst
