#include "common/zipf_sampler.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <vector>

namespace pst {
namespace {

TEST_CASE("ZipfSampler: frequencies match the Zipf pmf", "[common]") {
  constexpr uint64_t kN = 50;
  constexpr double kS = 1.1;
  constexpr int kDraws = 400000;
  auto z = ZipfSampler::Create(kN, kS, 7);
  REQUIRE(z.ok());
  std::vector<double> count(kN + 1);
  for (int i = 0; i < kDraws; ++i) {
    const uint64_t k = z->Next();
    REQUIRE(k >= 1);
    REQUIRE(k <= kN);
    ++count[k];
  }
  double norm = 0;
  for (uint64_t k = 1; k <= kN; ++k) norm += std::pow(double(k), -kS);
  for (uint64_t k = 1; k <= kN; ++k) {
    const double p = std::pow(double(k), -kS) / norm;
    const double sd = std::sqrt(kDraws * p * (1 - p));
    INFO("rank " << k);
    CHECK(std::abs(count[k] - kDraws * p) < 5 * sd);
  }
}

TEST_CASE("ZipfSampler: large n keeps the head ratio 2^s and stays in range", "[common]") {
  auto z = ZipfSampler::Create(10'000'000, 1.1, 3);
  REQUIRE(z.ok());
  double c1 = 0, c2 = 0;
  uint64_t max_seen = 0;
  for (int i = 0; i < 300000; ++i) {
    const uint64_t k = z->Next();
    REQUIRE(k >= 1);
    REQUIRE(k <= 10'000'000);
    c1 += k == 1;
    c2 += k == 2;
    max_seen = std::max(max_seen, k);
  }
  CHECK(c1 / c2 == Approx(std::pow(2.0, 1.1)).epsilon(0.05));
  CHECK(max_seen > 100000);  // the tail is reached
}

TEST_CASE("ZipfSampler: deterministic per seed, bad parameters rejected", "[common]") {
  auto a = ZipfSampler::Create(1000, 1.1, 5);
  auto b = ZipfSampler::Create(1000, 1.1, 5);
  auto c = ZipfSampler::Create(1000, 1.1, 6);
  REQUIRE((a.ok() && b.ok() && c.ok()));
  int differ = 0;
  for (int i = 0; i < 1000; ++i) {
    const uint64_t x = a->Next();
    CHECK(x == b->Next());
    differ += x != c->Next();
  }
  CHECK(differ > 100);
  CHECK_FALSE(ZipfSampler::Create(0, 1.1, 1).ok());
  CHECK_FALSE(ZipfSampler::Create(10, 0, 1).ok());
  CHECK_FALSE(ZipfSampler::Create(10, NAN, 1).ok());
  auto one = ZipfSampler::Create(10, 1.0, 1);  // s = 1 is the log case
  REQUIRE(one.ok());
  for (int i = 0; i < 100; ++i) CHECK(one->Next() <= 10);
}

}  // namespace
}  // namespace pst
