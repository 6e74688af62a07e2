#include "worker/gradient_clip.h"

#include <cmath>
#include <vector>

#include <catch2/catch.hpp>

namespace pst {
namespace {

TEST_CASE("GradientClip: a mean gradient above the bound is scaled to it", "[worker]") {
  // Sum over 2 samples of (3, 4) per sample: sum (6, 8), mean (3, 4), norm 5.
  std::vector<float> g{6, 8};
  const double scale = ClipGradientSum(g.data(), g.size(), 2, 2.5f);
  CHECK(scale == Approx(0.5));
  CHECK(g[0] == Approx(3.0f));  // mean (1.5, 2): norm 2.5
  CHECK(g[1] == Approx(4.0f));
  CHECK(std::sqrt(g[0] * g[0] + g[1] * g[1]) / 2 == Approx(2.5));
}

TEST_CASE("GradientClip: within the bound, off, or no samples leaves it alone", "[worker]") {
  std::vector<float> g{6, 8};
  CHECK(ClipGradientSum(g.data(), g.size(), 2, 5.0f) == 1.0);  // norm exactly 5
  CHECK(ClipGradientSum(g.data(), g.size(), 2, 0.0f) == 1.0);
  CHECK(ClipGradientSum(g.data(), g.size(), 0, 1.0f) == 1.0);
  CHECK(g == std::vector<float>{6, 8});
}

TEST_CASE("GradientClip: the norm spans the whole model", "[worker]") {
  // Many small entries that are each fine but together exceed the bound.
  std::vector<float> g(10000, 1.0f);  // one sample: norm 100
  CHECK(ClipGradientSum(g.data(), g.size(), 1, 10.0f) == Approx(0.1));
  double sq = 0;
  for (float v : g) sq += double(v) * v;
  CHECK(std::sqrt(sq) == Approx(10.0).epsilon(1e-5));
}

}  // namespace
}  // namespace pst
