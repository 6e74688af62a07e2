#include "worker/models/factorization_machine.h"

#include <cmath>

#include <catch2/catch.hpp>

#include "tests/worker/models/gradient_check.h"

namespace pst {
namespace {

TEST_CASE("FactorizationMachine: gradients match finite differences, repeated ids summed",
          "[worker]") {
  FactorizationMachineOptions options;
  options.num_dense = 3;
  options.num_factors = 4;
  auto model = FactorizationMachine::Create(options);
  REQUIRE(model.ok());
  // Two fields of up to 4 features from 6 ids each: ids repeat within samples.
  const SparseBatch batch = testing::RandomBatch(8, 2, 3, 4, 6, 1);
  testing::RandomParams params(**model, batch, 0.5f, 2);
  REQUIRE(params.ids.size() < batch.ids.size());
  CHECK(testing::CheckGradients(**model, batch, params) ==
        params.ids.size() * 5 + options.num_dense + 1);
}

TEST_CASE("FactorizationMachine: hand-computed logit and gradient of one sample", "[worker]") {
  FactorizationMachineOptions options;
  options.num_factors = 1;
  auto model = FactorizationMachine::Create(options);
  REQUIRE(model.ok());
  SparseBatch batch;  // one sample, label 1: ids 3 (x=2) and 9 (x=1), id 3 twice
  batch.labels = {1.0f};
  batch.ids = {3, 9, 3};
  batch.values = {2.0f, 1.0f, 1.0f};
  batch.offsets = {0, 3};
  UniqueIds ids;
  DedupIds(batch.ids, &ids);  // {3, 9}
  const std::vector<float> rows = {0.1f, 0.5f,    // id 3: w, v
                                   -0.2f, 0.25f};  // id 9
  const std::vector<float> dense = {0.3f};  // bias
  ModelParams params;
  params.sparse.push_back({&ids, rows.data()});
  params.dense.push_back(dense.data());
  // Features: (3, 2), (9, 1), (3, 1). Linear: 0.3 + 0.2 - 0.2 + 0.1 = 0.4.
  // Pairs: v3*2 * v9*1 + v3*2 * v3*1 + v9*1 * v3*1 = 0.25 + 0.5 + 0.125 = 0.875.
  const double z = 0.4 + 0.875;
  std::vector<float> p;
  REQUIRE((*model)->Predict(batch, params, &p).ok());
  CHECK(p[0] == Approx(1.0 / (1.0 + std::exp(-z))));
  ModelGrads grads;
  auto loss = (*model)->ForwardBackward(batch, params, &grads);
  REQUIRE(loss.ok());
  CHECK(*loss == Approx(std::log1p(std::exp(-z))));
  const double g = 1.0 / (1.0 + std::exp(-z)) - 1.0;
  // id 3 appears with x = 2 and x = 1: dw = g * (2 + 1); S = 0.5*2 + 0.25 + 0.5 = 1.75,
  // dv = g * (2 * (S - 0.5*2) + 1 * (S - 0.5*1)).
  CHECK(grads.sparse[0][0] == Approx(g * 3));
  CHECK(grads.sparse[0][1] == Approx(g * (2 * (1.75 - 1.0) + (1.75 - 0.5))));
  CHECK(grads.sparse[0][2] == Approx(g));
  CHECK(grads.sparse[0][3] == Approx(g * (1.75 - 0.25)));
  CHECK(grads.dense[0][0] == Approx(g));
}

TEST_CASE("LogisticRegression: tables, gradient check, and bad params", "[worker]") {
  auto model = CreateLogisticRegression(2);
  REQUIRE(model.ok());
  const auto& tables = (*model)->tables();
  REQUIRE(tables.size() == 2);
  CHECK(tables[0].name == "lr.rows");
  CHECK(tables[0].kind == TableKind::kSparse);
  CHECK(tables[0].dim == 1);
  CHECK(tables[0].init.kind == TableInitKind::kZeros);
  CHECK(ValidateTables(tables).ok());
  CHECK(tables[1].name == "lr.dense");
  CHECK(tables[1].size == 3);
  const SparseBatch batch = testing::RandomBatch(16, 1, 2, 5, 10, 3);
  testing::RandomParams params(**model, batch, 0.5f, 4);
  CHECK(testing::CheckGradients(**model, batch, params) == params.ids.size() + 3);

  ModelGrads grads;
  ModelParams missing = params.params;
  missing.dense.clear();
  CHECK((*model)->ForwardBackward(batch, missing, &grads).status().code() ==
        StatusCode::kInvalidArgument);
  const SparseBatch wrong_dense = testing::RandomBatch(2, 1, 5, 2, 10, 3);
  CHECK((*model)->ForwardBackward(wrong_dense, params.params, &grads).status().code() ==
        StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pst
