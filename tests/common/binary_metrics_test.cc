#include "common/binary_metrics.h"

#include <cmath>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

namespace pst {
namespace {

// The definition: over all (positive, negative) pairs, 1 if the positive
// scores higher, 1/2 on a tie.
double BruteForceAuc(const std::vector<float>& scores, const std::vector<float>& labels) {
  double wins = 0, pairs = 0;
  for (size_t i = 0; i < scores.size(); ++i) {
    for (size_t j = 0; j < scores.size(); ++j) {
      if (labels[i] != 1.0f || labels[j] != 0.0f) continue;
      pairs += 1;
      wins += scores[i] > scores[j] ? 1.0 : scores[i] == scores[j] ? 0.5 : 0.0;
    }
  }
  return wins / pairs;
}

TEST_CASE("ComputeAuc: hand-computed cases without and with ties", "[common]") {
  // Positives 0.35 and 0.8 against negatives 0.1 and 0.4: 0.35 beats 0.1 only,
  // 0.8 beats both: 3 of 4 pairs.
  auto auc = ComputeAuc(std::vector<float>{0.1f, 0.4f, 0.35f, 0.8f},
                        std::vector<float>{0, 0, 1, 1});
  REQUIRE(auc.ok());
  CHECK(*auc == 0.75);
  // Positive 0.5 ties negative 0.5 (1/2) and beats 0.2 (1); 0.9 beats both (2):
  // 3.5 of 4.
  auc = ComputeAuc(std::vector<float>{0.5f, 0.5f, 0.2f, 0.9f}, std::vector<float>{1, 0, 0, 1});
  REQUIRE(auc.ok());
  CHECK(*auc == 0.875);
  // All scores equal: every pair is a tie.
  auc = ComputeAuc(std::vector<float>{0.3f, 0.3f, 0.3f}, std::vector<float>{1, 0, 0});
  REQUIRE(auc.ok());
  CHECK(*auc == 0.5);
  // A perfectly inverted ranking.
  auc = ComputeAuc(std::vector<float>{0.9f, 0.1f}, std::vector<float>{0, 1});
  REQUIRE(auc.ok());
  CHECK(*auc == 0.0);
}

TEST_CASE("ComputeAuc: matches the pairwise definition on random scores with many ties",
          "[common]") {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> level(0, 9);  // 10 distinct scores: many ties
  std::bernoulli_distribution coin(0.3);
  std::vector<float> scores(400), labels(400);
  for (size_t i = 0; i < scores.size(); ++i) {
    labels[i] = coin(rng) ? 1.0f : 0.0f;
    scores[i] = 0.1f * static_cast<float>(level(rng)) + 0.05f * labels[i] * (level(rng) > 4);
  }
  auto auc = ComputeAuc(scores, labels);
  REQUIRE(auc.ok());
  CHECK(*auc == Approx(BruteForceAuc(scores, labels)).epsilon(1e-12));
  CHECK(*auc > 0.5);
}

TEST_CASE("ComputeAuc: rejects one-class labels, bad labels, NaN and size mismatch", "[common]") {
  CHECK(ComputeAuc(std::vector<float>{0.1f, 0.2f}, std::vector<float>{1, 1}).status().code() ==
        StatusCode::kInvalidArgument);
  CHECK(ComputeAuc(std::vector<float>{0.1f, 0.2f}, std::vector<float>{1, 2}).status().code() ==
        StatusCode::kInvalidArgument);
  CHECK(ComputeAuc(std::vector<float>{NAN, 0.2f}, std::vector<float>{1, 0}).status().code() ==
        StatusCode::kInvalidArgument);
  CHECK(ComputeAuc(std::vector<float>{0.1f}, std::vector<float>{1, 0}).status().code() ==
        StatusCode::kInvalidArgument);
}

TEST_CASE("ComputeLogLoss: hand-computed value, clamping and bad input", "[common]") {
  auto loss = ComputeLogLoss(std::vector<float>{0.9f, 0.2f}, std::vector<float>{1, 0});
  REQUIRE(loss.ok());
  // -(ln 0.9 + ln 0.8) / 2
  CHECK(*loss == Approx((0.105360516 + 0.223143551) / 2).epsilon(1e-6));
  // A confidently wrong prediction is clamped to -ln(1e-7), not infinite.
  loss = ComputeLogLoss(std::vector<float>{0.0f}, std::vector<float>{1});
  REQUIRE(loss.ok());
  CHECK(*loss == Approx(-std::log(1e-7)).epsilon(1e-6));
  CHECK(!ComputeLogLoss(std::vector<float>{1.5f}, std::vector<float>{1}).ok());
  CHECK(!ComputeLogLoss(std::vector<float>{}, std::vector<float>{}).ok());
}

TEST_CASE("BinnedAuc: agrees with the exact AUC up to the ties its bins create", "[common]") {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> scores(5000), labels(5000);
  BinnedAuc binned(1 << 16);
  BinaryMetrics metrics;
  for (size_t i = 0; i < scores.size(); ++i) {
    scores[i] = u(rng);
    labels[i] = u(rng) < scores[i] ? 1.0f : 0.0f;  // calibrated: AUC about 0.83
    binned.Add(scores[i], labels[i]);
    metrics.Add(scores[i], labels[i]);
  }
  auto exact = ComputeAuc(scores, labels);
  REQUIRE(exact.ok());
  auto approx = binned.Auc();
  REQUIRE(approx.ok());
  CHECK(*approx == Approx(*exact).margin(1e-3));
  auto collected = metrics.Auc();
  REQUIRE(collected.ok());
  CHECK(*collected == *exact);
  CHECK(*exact > 0.8);
  CHECK(!BinnedAuc(4).Auc().ok());
}

}  // namespace
}  // namespace pst
