#include "worker/models/embedding_mlp.h"

#include <catch2/catch.hpp>

#include "tests/worker/models/gradient_check.h"

namespace pst {
namespace {

TEST_CASE("EmbeddingMlp: gradients (pooling included) match finite differences", "[worker]") {
  EmbeddingMlpOptions options;
  options.num_fields = 3;
  options.num_dense = 2;
  options.embedding_dim = 4;
  options.hidden = {5, 3};
  auto model = EmbeddingMlp::Create(options);
  REQUIRE(model.ok());
  // Up to 3 features per field (sum-pooled with their values), ids repeating.
  const SparseBatch batch = testing::RandomBatch(6, 3, 2, 3, 4, 5);
  testing::RandomParams params(**model, batch, 0.6f, 6);
  const size_t dense = (14 * 5 + 5) + (5 * 3 + 3) + (3 * 1 + 1);
  CHECK(testing::CheckGradients(**model, batch, params, 1e-3f, 2e-2) ==
        params.ids.size() * 4 + dense);
}

TEST_CASE("EmbeddingMlp: declared tables and initialisation scales", "[worker]") {
  EmbeddingMlpOptions options;
  options.num_fields = 26;
  options.num_dense = 13;
  options.embedding_dim = 16;
  options.hidden = {64};
  auto model = EmbeddingMlp::Create(options);
  REQUIRE(model.ok());
  const auto& t = (*model)->tables();
  REQUIRE(t.size() == 5);
  CHECK(t[0].name == "dlrm.emb");
  CHECK(t[0].dim == 16);
  CHECK(t[1].name == "dlrm.w0");
  CHECK(t[1].size == (26 * 16 + 13) * 64);
  CHECK(t[1].init.kind == TableInitKind::kUniform);
  CHECK(t[1].init.scale == Approx(std::sqrt(6.0 / (429 + 64))));
  CHECK(t[2].name == "dlrm.b0");
  CHECK(t[2].init.kind == TableInitKind::kZeros);
  CHECK(ValidateTables(t).ok());
  CHECK(t[4].size == 1);
  options.hidden = {8, 0};
  CHECK(EmbeddingMlp::Create(options).status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("EmbeddingMlp: Predict agrees with the loss ForwardBackward returns", "[worker]") {
  EmbeddingMlpOptions options;
  options.num_fields = 2;
  options.num_dense = 1;
  options.embedding_dim = 3;
  options.hidden = {4};
  auto model = EmbeddingMlp::Create(options);
  REQUIRE(model.ok());
  const SparseBatch batch = testing::RandomBatch(5, 2, 1, 2, 5, 9);
  testing::RandomParams params(**model, batch, 0.5f, 10);
  std::vector<float> all;
  REQUIRE((*model)->Predict(batch, params.params, &all).ok());
  for (const float p : all) {
    CHECK(p > 0.0f);
    CHECK(p < 1.0f);
  }
  // The summed loss equals the log-loss recomputed from the predictions.
  ModelGrads grads;
  auto loss = (*model)->ForwardBackward(batch, params.params, &grads);
  REQUIRE(loss.ok());
  double expected = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    expected -= batch.labels[i] == 1.0f ? std::log(all[i]) : std::log(1.0 - all[i]);
  }
  CHECK(*loss == Approx(expected).epsilon(1e-5));
}

}  // namespace
}  // namespace pst
