#include "common/model_layout.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "common/job_spec.h"
#include "common/status.h"

namespace pst {
namespace {

ModelSpec Spec(std::vector<uint32_t> sizes, InitKind init = InitKind::kHe, uint64_t seed = 1) {
  ModelSpec s;
  s.layer_sizes = std::move(sizes);
  s.init = init;
  s.seed = seed;
  return s;
}

ModelLayout Layout(const ModelSpec& spec) {
  StatusOr<ModelLayout> l = ModelLayout::FromSpec(spec);
  REQUIRE(l.ok());
  return std::move(l).value();
}

std::vector<float> InitAll(const ModelSpec& spec, const ModelLayout& layout) {
  std::vector<float> out(layout.total());
  InitParams(spec, layout, 0, layout.total(), out.data());
  return out;
}

bool BitEqual(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST_CASE("ModelLayout: tensors of the default MLP 784-128-10", "[common]") {
  const ModelLayout l = Layout(Spec({784, 128, 10}));
  REQUIRE(l.tensors().size() == 4);
  CHECK(l.num_layers() == 2);

  const TensorInfo& w0 = l.tensors()[0];
  CHECK(w0.name == "w0");
  CHECK(w0.offset == 0);
  CHECK(w0.rows == 784);
  CHECK(w0.cols == 128);
  CHECK_FALSE(w0.is_bias);
  CHECK(w0.size() == 100352);

  const TensorInfo& b0 = l.tensors()[1];
  CHECK(b0.name == "b0");
  CHECK(b0.offset == 100352);
  CHECK(b0.rows == 1);
  CHECK(b0.cols == 128);
  CHECK(b0.is_bias);
  CHECK(b0.size() == 128);

  const TensorInfo& w1 = l.tensors()[2];
  CHECK(w1.name == "w1");
  CHECK(w1.offset == 100480);
  CHECK(w1.rows == 128);
  CHECK(w1.cols == 10);
  CHECK_FALSE(w1.is_bias);
  CHECK(w1.size() == 1280);

  const TensorInfo& b1 = l.tensors()[3];
  CHECK(b1.name == "b1");
  CHECK(b1.offset == 101760);
  CHECK(b1.rows == 1);
  CHECK(b1.cols == 10);
  CHECK(b1.is_bias);
  CHECK(b1.size() == 10);

  CHECK(l.total() == 101770);
}

TEST_CASE("ModelLayout: tensors are back to back for deeper models", "[common]") {
  const std::vector<uint32_t> sizes = {5, 7, 3, 2};
  const ModelLayout l = Layout(Spec(sizes));
  REQUIRE(l.num_layers() == 3);
  REQUIRE(l.tensors().size() == 6);
  uint64_t offset = 0;
  for (size_t layer = 0; layer < 3; ++layer) {
    const TensorInfo& w = l.tensors()[2 * layer];
    const TensorInfo& b = l.tensors()[2 * layer + 1];
    CHECK(w.name == "w" + std::to_string(layer));
    CHECK(b.name == "b" + std::to_string(layer));
    CHECK(w.offset == offset);
    CHECK(w.rows == sizes[layer]);
    CHECK(w.cols == sizes[layer + 1]);
    offset += w.size();
    CHECK(b.offset == offset);
    CHECK(b.size() == sizes[layer + 1]);
    offset += b.size();
  }
  CHECK(l.total() == offset);
  CHECK(l.total() == 5 * 7 + 7 + 7 * 3 + 3 + 3 * 2 + 2);
  // Two sizes: softmax regression, one layer.
  const ModelLayout s = Layout(Spec({784, 10}));
  CHECK(s.num_layers() == 1);
  CHECK(s.total() == 7850);
}

TEST_CASE("ModelLayout: invalid specs are rejected", "[common]") {
  std::vector<std::vector<uint32_t>> bad = {
      {},
      {784},
      {784, 0, 10},
      {0, 10},
      {784, 128, 1},                // fewer than 2 classes
      {(1u << 24) + 1, 10},         // a layer too wide
      {65536, 65537, 2},            // more than 2^32 parameters
      std::vector<uint32_t>(65, 4)  // too many layers
  };
  for (const auto& sizes : bad) {
    CAPTURE(sizes);
    StatusOr<ModelLayout> l = ModelLayout::FromSpec(Spec(sizes));
    CHECK(l.status().code() == StatusCode::kInvalidArgument);
  }
  // Boundaries that are still allowed.
  CHECK(ModelLayout::FromSpec(Spec({1, 2})).ok());
  CHECK(ModelLayout::FromSpec(Spec(std::vector<uint32_t>(64, 2))).ok());
}

TEST_CASE("InitParams: values depend only on seed and key and not on the slicing", "[common]") {
  for (InitKind init : {InitKind::kHe, InitKind::kXavier}) {
    const ModelSpec spec = Spec({784, 128, 10}, init, 12345);
    const ModelLayout l = Layout(spec);
    const std::vector<float> whole = InitAll(spec, l);

    std::mt19937_64 rng(7);
    for (int trial = 0; trial < 20; ++trial) {
      // Arbitrary cut points, plus the tensor boundaries and empty slices.
      std::vector<uint64_t> cuts = {0, l.total()};
      for (int i = 0; i < 8; ++i) cuts.push_back(rng() % (l.total() + 1));
      for (const TensorInfo& t : l.tensors()) cuts.push_back(t.offset);
      cuts.push_back(cuts[2]);  // a duplicate cut gives an empty slice
      std::sort(cuts.begin(), cuts.end());
      std::vector<float> sliced(l.total(), -99.0f);
      for (size_t i = 0; i + 1 < cuts.size(); ++i) {
        // Each slice is written into its own buffer, as a PS shard would.
        std::vector<float> part(cuts[i + 1] - cuts[i]);
        InitParams(spec, l, cuts[i], cuts[i + 1], part.data());
        std::copy(part.begin(), part.end(), sliced.begin() + cuts[i]);
      }
      CHECK(BitEqual(whole, sliced));
    }
    // Single keys, one at a time.
    for (uint64_t k : {uint64_t{0}, uint64_t{1}, uint64_t{100351}, uint64_t{100352},
                       uint64_t{100480}, uint64_t{101769}}) {
      float v = -99.0f;
      InitParams(spec, l, k, k + 1, &v);
      CHECK(std::memcmp(&v, &whole[k], sizeof(float)) == 0);
    }
    // An empty range writes nothing.
    float sentinel = -99.0f;
    InitParams(spec, l, 500, 500, &sentinel);
    CHECK(sentinel == -99.0f);
    // The same call again gives the same values.
    CHECK(BitEqual(whole, InitAll(spec, l)));
  }
}

TEST_CASE("InitParams: a weight's value does not depend on the model's later layers", "[common]") {
  // Same first layer, different second layer: w0 keys map to the same values.
  const ModelSpec a = Spec({20, 8, 3}, InitKind::kHe, 9);
  const ModelSpec b = Spec({20, 8, 5}, InitKind::kHe, 9);
  const std::vector<float> va = InitAll(a, Layout(a));
  const std::vector<float> vb = InitAll(b, Layout(b));
  CHECK(std::memcmp(va.data(), vb.data(), 20 * 8 * sizeof(float)) == 0);
}

TEST_CASE("InitParams: biases are zero and weights lie within the init limit", "[common]") {
  for (InitKind init : {InitKind::kHe, InitKind::kXavier}) {
    CAPTURE(static_cast<int>(init));
    const ModelSpec spec = Spec({784, 128, 10}, init, 3);
    const ModelLayout l = Layout(spec);
    const std::vector<float> v = InitAll(spec, l);
    for (const TensorInfo& t : l.tensors()) {
      CAPTURE(t.name);
      if (t.is_bias) {
        for (uint64_t k = t.offset; k < t.offset + t.size(); ++k) REQUIRE(v[k] == 0.0f);
        continue;
      }
      const double limit = init == InitKind::kHe ? std::sqrt(6.0 / double(t.rows))
                                                 : std::sqrt(6.0 / double(t.rows + t.cols));
      double max_abs = 0;
      int nonzero = 0;
      for (uint64_t k = t.offset; k < t.offset + t.size(); ++k) {
        REQUIRE(std::isfinite(v[k]));
        REQUIRE(std::fabs(double(v[k])) <= limit * (1 + 1e-6));
        max_abs = std::max(max_abs, std::fabs(double(v[k])));
        nonzero += v[k] != 0.0f;
      }
      // Uniform over [-limit, limit): the extremes are approached and zeros are rare.
      CHECK(max_abs > 0.95 * limit);
      CHECK(nonzero >= int(t.size()) - 2);
    }
  }
}

TEST_CASE("InitParams: He weights have mean near 0 and the uniform variance", "[common]") {
  const ModelSpec spec = Spec({784, 128, 10}, InitKind::kHe, 1);
  const ModelLayout l = Layout(spec);
  const TensorInfo& w0 = l.tensors()[0];
  std::vector<float> v(w0.size());
  InitParams(spec, l, w0.offset, w0.offset + w0.size(), v.data());
  double sum = 0, sum_sq = 0, positive = 0;
  for (float x : v) {
    sum += x;
    sum_sq += double(x) * x;
    positive += x > 0;
  }
  const double n = double(v.size());
  const double limit = std::sqrt(6.0 / 784.0);
  const double mean = sum / n;
  const double var = sum_sq / n - mean * mean;
  // Uniform(-a, a): sd a/sqrt(3); the standard error of the mean over 100352
  // samples is ~1.6e-4, so 1e-3 is a > 6 sigma bound.
  CHECK(std::fabs(mean) < 1e-3);
  CHECK(var == Approx(limit * limit / 3).epsilon(0.03));
  CHECK(positive / n == Approx(0.5).margin(0.01));
}

TEST_CASE("InitParams: different seeds give different weights", "[common]") {
  const ModelSpec s1 = Spec({784, 128, 10}, InitKind::kHe, 1);
  const ModelSpec s2 = Spec({784, 128, 10}, InitKind::kHe, 2);
  const ModelSpec s0 = Spec({784, 128, 10}, InitKind::kHe, 0);
  const ModelLayout l = Layout(s1);
  const std::vector<float> a = InitAll(s1, l);
  const std::vector<float> b = InitAll(s2, l);
  const std::vector<float> c = InitAll(s0, l);
  size_t same_ab = 0, same_ac = 0, weights = 0;
  for (const TensorInfo& t : l.tensors()) {
    for (uint64_t k = t.offset; k < t.offset + t.size(); ++k) {
      if (t.is_bias) {
        CHECK(a[k] == b[k]);  // both zero
        continue;
      }
      ++weights;
      same_ab += a[k] == b[k];
      same_ac += a[k] == c[k];
    }
  }
  // Independent uniform floats almost never coincide.
  CHECK(same_ab < weights / 1000);
  CHECK(same_ac < weights / 1000);
  // Nor are neighbouring keys equal within one seed (the key is mixed in).
  size_t same_neighbour = 0;
  for (uint64_t k = 1; k < l.tensors()[0].size(); ++k) same_neighbour += a[k] == a[k - 1];
  CHECK(same_neighbour < 100);
}

}  // namespace
}  // namespace pst
