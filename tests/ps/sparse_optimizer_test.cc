#include "ps/sparse_optimizer.h"

#include <algorithm>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace pst {
namespace {

// ---------------------------------------------------------------------------
// Independent double-precision references: the published formulas, one scalar
// loop each, sharing nothing with ps/sparse_*.cc.

struct RefRow {
  std::vector<double> w, a, b;  // row and up to two state vectors
  uint64_t t = 0;
};

void RefSgd(RefRow& r, const std::vector<double>& g, double lr) {
  for (size_t i = 0; i < g.size(); ++i) r.w[i] -= lr * g[i];
}

void RefAdagrad(RefRow& r, const std::vector<double>& g, double lr, double eps) {
  for (size_t i = 0; i < g.size(); ++i) {
    r.a[i] += g[i] * g[i];
    r.w[i] -= lr * g[i] / (std::sqrt(r.a[i]) + eps);
  }
}

// McMahan et al. 2013, algorithm 1 (per coordinate), with the row as w.
void RefFtrl(RefRow& r, const std::vector<double>& g, double alpha, double beta, double l1,
             double l2) {
  for (size_t i = 0; i < g.size(); ++i) {
    double& z = r.a[i];
    double& n = r.b[i];
    const double sigma = (std::sqrt(n + g[i] * g[i]) - std::sqrt(n)) / alpha;
    z += g[i] - sigma * r.w[i];
    n += g[i] * g[i];
    if (std::abs(z) <= l1) {
      r.w[i] = 0;
    } else {
      const double sign = z < 0 ? -1 : 1;
      r.w[i] = -(z - sign * l1) / ((beta + std::sqrt(n)) / alpha + l2);
    }
  }
}

void RefLazyAdam(RefRow& r, const std::vector<double>& g, double lr, double b1, double b2,
                 double eps) {
  ++r.t;
  for (size_t i = 0; i < g.size(); ++i) {
    r.a[i] = b1 * r.a[i] + (1 - b1) * g[i];
    r.b[i] = b2 * r.b[i] + (1 - b2) * g[i] * g[i];
    const double mhat = r.a[i] / (1 - std::pow(b1, double(r.t)));
    const double vhat = r.b[i] / (1 - std::pow(b2, double(r.t)));
    r.w[i] -= lr * mhat / (std::sqrt(vhat) + eps);
  }
}

std::unique_ptr<SparseRowOptimizer> MakeRule(const std::string& name,
                                             SparseOptimizerParams params, uint32_t dim) {
  auto opt = SparseOptimizerRegistry::Builtin().Create({name, std::move(params)}, dim);
  REQUIRE(opt.ok());
  return std::move(opt).value();
}

// Runs `steps` updates of several rows through the rule and the reference;
// each step touches only some rows (lazy rules must leave the others alone).
template <typename Ref>
void CompareOverSteps(const std::string& name, SparseOptimizerParams params, Ref ref,
                      int state_vectors) {
  constexpr uint32_t kDim = 8;
  constexpr int kRows = 3;
  constexpr int kSteps = 12;
  auto opt = MakeRule(name, params, kDim);
  REQUIRE(opt->state_floats() >= size_t(state_vectors) * kDim);
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<std::vector<float>> row(kRows, std::vector<float>(kDim)),
      state(kRows, std::vector<float>(opt->state_floats()));
  std::vector<RefRow> refs(kRows);
  for (int r = 0; r < kRows; ++r) {
    for (float& v : row[r]) v = dist(rng) * 0.1f;
    opt->InitState(state[r].data());
    refs[r].w.assign(row[r].begin(), row[r].end());
    refs[r].a.assign(kDim, 0.0);
    refs[r].b.assign(kDim, 0.0);
  }
  const float scale = 0.25f;
  for (int step = 0; step < kSteps; ++step) {
    for (int r = 0; r < kRows; ++r) {
      if ((step + r) % 3 == 2) continue;  // row r untouched at this step
      std::vector<float> g(kDim);
      std::vector<double> gd(kDim);
      for (uint32_t i = 0; i < kDim; ++i) {
        g[i] = dist(rng) * (step % 4 == 3 ? 0.0f : 1.0f);  // some all-zero gradients
        gd[i] = double(g[i] * scale);
      }
      opt->Apply(row[r].data(), state[r].data(), g.data(), scale);
      ref(refs[r], gd);
    }
    for (int r = 0; r < kRows; ++r) {
      for (uint32_t i = 0; i < kDim; ++i) {
        INFO(name << " step " << step << " row " << r << " coordinate " << i);
        CHECK(row[r][i] == Approx(refs[r].w[i]).epsilon(1e-4).margin(1e-6));
        if (state_vectors >= 1) CHECK(state[r][i] == Approx(refs[r].a[i]).epsilon(1e-4).margin(1e-6));
        if (state_vectors >= 2) {
          CHECK(state[r][kDim + i] == Approx(refs[r].b[i]).epsilon(1e-4).margin(1e-7));
        }
      }
    }
  }
}

TEST_CASE("Sparse sgd matches the reference over several steps", "[ps]") {
  CompareOverSteps("sgd", {{"lr", 0.3}},
                   [](RefRow& r, const std::vector<double>& g) { RefSgd(r, g, 0.3); }, 0);
}

TEST_CASE("Sparse adagrad matches the reference over several steps", "[ps]") {
  CompareOverSteps("adagrad", {{"lr", 0.1}, {"epsilon", 1e-6}},
                   [](RefRow& r, const std::vector<double>& g) { RefAdagrad(r, g, 0.1, 1e-6); }, 1);
}

TEST_CASE("Sparse adagrad starts its accumulator at initial_accumulator", "[ps]") {
  auto opt = MakeRule("adagrad", {{"initial_accumulator", 0.1}, {"lr", 1.0}}, 2);
  std::vector<float> state(2);
  opt->InitState(state.data());
  CHECK(state[0] == 0.1f);
  std::vector<float> row = {0, 0}, g = {0.3f, 0};
  opt->Apply(row.data(), state.data(), g.data(), 1.0f);
  CHECK(row[0] == Approx(-0.3 / (std::sqrt(0.1 + 0.09) + 1e-8)).epsilon(1e-5));
  CHECK(row[1] == 0.0f);
}

TEST_CASE("Sparse ftrl matches the reference over several steps", "[ps]") {
  CompareOverSteps(
      "ftrl", {{"alpha", 0.1}, {"beta", 1.0}, {"l1", 0.05}, {"l2", 0.5}},
      [](RefRow& r, const std::vector<double>& g) { RefFtrl(r, g, 0.1, 1.0, 0.05, 0.5); }, 2);
}

TEST_CASE("Sparse ftrl: a large L1 gives exact zeros", "[ps]") {
  auto opt = MakeRule("ftrl", {{"l1", 10.0}}, 4);
  std::vector<float> row = {0.5f, -0.5f, 0.1f, 0.0f}, state(8), g = {1, -1, 0.5f, 2};
  opt->InitState(state.data());
  for (int i = 0; i < 3; ++i) opt->Apply(row.data(), state.data(), g.data(), 1.0f);
  for (float w : row) CHECK(w == 0.0f);
}

TEST_CASE("Sparse lazy_adam matches the reference with a step count per row", "[ps]") {
  CompareOverSteps("lazy_adam", {{"lr", 0.01}, {"beta1", 0.8}, {"beta2", 0.95}},
                   [](RefRow& r, const std::vector<double>& g) {
                     RefLazyAdam(r, g, 0.01, 0.8, 0.95, 1e-8);
                   },
                   2);
  // The step count is the row scalar after m and v.
  auto opt = MakeRule("lazy_adam", {}, 2);
  REQUIRE(opt->state_floats() == 5);
  std::vector<float> row(2), state(5), g = {1, 1};
  opt->InitState(state.data());
  for (int i = 0; i < 3; ++i) opt->Apply(row.data(), state.data(), g.data(), 1.0f);
  uint32_t t;
  std::memcpy(&t, &state[4], sizeof t);
  CHECK(t == 3);
}

TEST_CASE("Sparse optimizer registry: every rule describes its state and parameters", "[ps]") {
  const SparseOptimizerRegistry& reg = SparseOptimizerRegistry::Builtin();
  CHECK(reg.Names() == std::vector<std::string>{"adagrad", "ftrl", "lazy_adam", "sgd"});
  for (const std::string& name : reg.Names()) {
    const SparseOptimizerInfo* info = reg.Find(name);
    REQUIRE(info != nullptr);
    auto opt = reg.Create({name, {}}, 16);
    REQUIRE(opt.ok());
    INFO(name);
    CHECK((*opt)->state_floats() == info->slots.size() * 16 + info->row_scalars.size());
    CHECK((*opt)->dim() == 16);
  }
}

TEST_CASE("Sparse optimizer registry: registers exactly the catalogued rules", "[ps]") {
  std::vector<std::string> catalogued;
  for (const SparseOptimizerDescription& d : SparseOptimizerCatalog()) {
    catalogued.push_back(d.name);
    const SparseOptimizerInfo* info = SparseOptimizerRegistry::Builtin().Find(d.name);
    REQUIRE(info != nullptr);
    CHECK(info->slots == d.slots);
    CHECK(info->params.size() == d.params.size());
  }
  std::sort(catalogued.begin(), catalogued.end());
  CHECK(SparseOptimizerRegistry::Builtin().Names() == catalogued);
}

TEST_CASE("Sparse optimizer registry: bad configurations are refused with a reason", "[ps]") {
  const SparseOptimizerRegistry& reg = SparseOptimizerRegistry::Builtin();
  auto unknown = reg.Create({"adamw", {}}, 4);
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.status().message().find("known: adagrad, ftrl, lazy_adam, sgd") !=
        std::string::npos);
  auto param = reg.Create({"sgd", {{"momentum", 0.9}}}, 4);
  REQUIRE_FALSE(param.ok());
  CHECK(param.status().message().find("momentum") != std::string::npos);
  CHECK_FALSE(reg.Create({"sgd", {{"lr", 0.0}}}, 4).ok());  // lr range excludes 0
  CHECK_FALSE(reg.Create({"sgd", {{"lr", NAN}}}, 4).ok());
  CHECK_FALSE(reg.Create({"ftrl", {{"l1", -1.0}}}, 4).ok());
  CHECK_FALSE(reg.Create({"lazy_adam", {{"beta1", 1.0}}}, 4).ok());
  CHECK_FALSE(reg.Create({"sgd", {}}, 0).ok());
  SparseOptimizerRegistry mine;
  SparseOptimizerInfo dup;
  dup.name = "x";
  dup.make = [](const SparseOptimizerParams&, uint32_t) -> std::unique_ptr<SparseRowOptimizer> {
    return nullptr;
  };
  CHECK(mine.Register(dup).ok());
  CHECK(mine.Register(dup).code() == StatusCode::kAlreadyExists);
  SparseOptimizerInfo bad_default = dup;
  bad_default.name = "y";
  bad_default.params = {{"lr", -1, 0, 1, false, ""}};
  CHECK_FALSE(mine.Register(bad_default).ok());
}

}  // namespace
}  // namespace pst
