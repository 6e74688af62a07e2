#include "datagen/zipf_sampler.h"

#include <cmath>
#include <vector>

#include <catch2/catch.hpp>

namespace pst {
namespace {

TEST_CASE("ZipfSampler: frequencies follow k^-s and stay in range", "[datagen]") {
  const double s = 1.1;
  ZipfSampler sampler(1000, s);
  std::mt19937_64 rng(3);
  std::vector<uint64_t> counts(1001);
  const int draws = 200000;
  for (int i = 0; i < draws; ++i) {
    const uint64_t k = sampler.Sample(rng);
    REQUIRE(k >= 1);
    REQUIRE(k <= 1000);
    ++counts[k];
  }
  double norm = 0;
  for (int k = 1; k <= 1000; ++k) norm += std::pow(k, -s);
  for (int k : {1, 2, 5, 10}) {
    const double expected = draws * std::pow(k, -s) / norm;
    INFO("rank " << k);
    CHECK(counts[k] == Approx(expected).epsilon(0.05));
  }
}

TEST_CASE("ZipfSampler: a vocabulary of 10^8 samples in constant memory", "[datagen]") {
  ZipfSampler sampler(100'000'000, 1.1);
  std::mt19937_64 rng(5);
  uint64_t above_million = 0;
  for (int i = 0; i < 20000; ++i) {
    const uint64_t k = sampler.Sample(rng);
    REQUIRE(k <= 100'000'000);
    above_million += k > 1'000'000;
  }
  // P(k > 10^6) = (H(10^8) - H(10^6)) / H(10^8) with the generalized harmonic
  // numbers H of order 1.1: about 0.12; some tail must appear.
  CHECK(above_million > 1000);
  CHECK(above_million < 4000);
}

}  // namespace
}  // namespace pst
