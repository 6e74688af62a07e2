#include "ps/optimizer.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <numbers>
#include <string>
#include <utility>
#include <vector>

#include "common/job_spec.h"
#include "common/status.h"

namespace pst {
namespace {

// ---------------------------------------------------------------------------
// Independent double-precision reference: the textbook formulas, one scalar
// loop per kind, sharing nothing with ps/optimizer.cc. The spec's float
// hyper-parameters are widened to double, so the only difference from the
// implementation is float rounding.

double RefLearningRate(const OptimizerSpec& s, uint64_t t) {
  const double lr = s.learning_rate;
  switch (s.schedule) {
    case LrSchedule::kConstant:
      return lr;
    case LrSchedule::kStep: {
      double rate = lr;
      for (uint64_t k = 0; k < (t - 1) / s.step_size; ++k) rate *= s.step_gamma;
      return rate;
    }
    case LrSchedule::kCosine: {
      if (t <= s.warmup_steps) return lr * double(t) / double(s.warmup_steps);
      double progress = double(t - s.warmup_steps) / double(s.total_steps - s.warmup_steps);
      if (progress > 1) progress = 1;
      return lr * 0.5 * (1 + std::cos(std::numbers::pi * progress));
    }
  }
  return lr;
}

struct RefOptimizer {
  OptimizerSpec spec;
  std::vector<double> p;
  std::vector<double> s0;  // velocity / accum / m
  std::vector<double> s1;  // v

  RefOptimizer(const OptimizerSpec& spec_in, const std::vector<float>& params)
      : spec(spec_in), p(params.begin(), params.end()), s0(params.size()), s1(params.size()) {}

  void Step(const std::vector<float>& grad, uint64_t t) {
    const double lr = RefLearningRate(spec, t);
    const double wd = spec.weight_decay;
    const double mu = spec.momentum;
    const double b1 = spec.beta1;
    const double b2 = spec.beta2;
    const double eps = spec.epsilon;
    for (size_t i = 0; i < p.size(); ++i) {
      double g = grad[i];
      if (spec.kind != OptimizerKind::kAdamW) g += wd * p[i];  // L2 folded into the gradient
      switch (spec.kind) {
        case OptimizerKind::kSgd:
          p[i] -= lr * g;
          break;
        case OptimizerKind::kMomentum:
          s0[i] = mu * s0[i] + g;
          p[i] -= lr * s0[i];
          break;
        case OptimizerKind::kNesterov:
          s0[i] = mu * s0[i] + g;
          p[i] -= lr * (g + mu * s0[i]);
          break;
        case OptimizerKind::kAdagrad:
          s0[i] += g * g;
          p[i] -= lr * g / (std::sqrt(s0[i]) + eps);
          break;
        case OptimizerKind::kAdam:
        case OptimizerKind::kAdamW: {
          s0[i] = b1 * s0[i] + (1 - b1) * g;
          s1[i] = b2 * s1[i] + (1 - b2) * g * g;
          const double m_hat = s0[i] / (1 - std::pow(b1, double(t)));
          const double v_hat = s1[i] / (1 - std::pow(b2, double(t)));
          p[i] -= lr * m_hat / (std::sqrt(v_hat) + eps);
          if (spec.kind == OptimizerKind::kAdamW) p[i] -= lr * wd * p[i];
          break;
        }
      }
    }
  }
};

// ---------------------------------------------------------------------------
// Helpers.

OptimizerSpec Spec(OptimizerKind kind, float lr) {
  OptimizerSpec s;
  s.kind = kind;
  s.learning_rate = lr;
  return s;
}

std::unique_ptr<Optimizer> MustCreate(const OptimizerSpec& spec, size_t n) {
  auto opt = Optimizer::Create(spec, n);
  INFO(opt.status().ToString());
  REQUIRE(opt.ok());
  return std::move(opt).value();
}

// 1e-6 relative to the larger of the value and `scale`, the size of the
// quantities it was computed from. A purely element-wise relative bound would
// fail for no fault of the code: when mu*v and g nearly cancel, a float result
// of 0.003 carries the ~6e-8 absolute rounding of its O(1) operands.
Approx Near(double expected, double scale) {
  return Approx(expected).epsilon(1e-6).margin(1e-6 * scale);
}

double MaxAbs(const std::vector<double>& xs) {
  double m = 0;
  for (double x : xs) m = std::max(m, std::abs(x));
  return m;
}

// Gradients that vary per step and per element, mix signs and magnitudes, and
// include an exact zero (Adam's 0 / (0 + eps) on its first step).
std::vector<std::vector<float>> SmallGrads() {
  return {{0.5f, -1.25f, 2.0f, 0.0f},
          {0.3f, -0.75f, -1.5f, 0.125f},
          {-0.2f, 2.5f, 0.25f, -0.5f},
          {1.0f, 0.05f, -3.0f, 0.75f},
          {-0.6f, -0.4f, 0.8f, 1.5f}};
}
const std::vector<float> kSmallParams = {1.0f, -0.5f, 0.25f, 2.0f};

// Longer vector so a vectorised main loop and its scalar tail both run.
std::vector<std::vector<float>> LongGrads(size_t n, int steps) {
  std::vector<std::vector<float>> grads(steps, std::vector<float>(n));
  for (int t = 0; t < steps; ++t)
    for (size_t i = 0; i < n; ++i)
      grads[t][i] = static_cast<float>(std::sin(0.7 * double(i) + 1.3 * t) * (1 + i % 5));
  return grads;
}
std::vector<float> LongParams(size_t n) {
  std::vector<float> p(n);
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<float>(std::cos(0.37 * double(i)) + 0.1);
  return p;
}

// Runs the optimizer and the reference side by side from step first_step and
// compares parameters and every state slot after each step.
void CheckAgainstReference(const OptimizerSpec& spec, std::vector<float> params,
                           const std::vector<std::vector<float>>& grads, uint64_t first_step = 1) {
  auto opt = MustCreate(spec, params.size());
  RefOptimizer ref(spec, params);
  for (size_t k = 0; k < grads.size(); ++k) {
    const uint64_t t = first_step + k;
    opt->Apply(params.data(), grads[k].data(), t);
    ref.Step(grads[k], t);
    const size_t num_slots = opt->SlotNames().size();
    const double p_scale = MaxAbs(ref.p);
    const double s0_scale = MaxAbs(ref.s0);
    const double s1_scale = MaxAbs(ref.s1);
    for (size_t i = 0; i < params.size(); ++i) {
      INFO("step " << t << " param " << i);
      CHECK(params[i] == Near(ref.p[i], p_scale));
      if (num_slots >= 1) CHECK(opt->slot(0)[i] == Near(ref.s0[i], s0_scale));
      if (num_slots >= 2) CHECK(opt->slot(1)[i] == Near(ref.s1[i], s1_scale));
    }
  }
}

void CheckKindAgainstReference(OptimizerKind kind, float lr) {
  SECTION("defaults") { CheckAgainstReference(Spec(kind, lr), kSmallParams, SmallGrads()); }
  SECTION("weight decay") {
    OptimizerSpec s = Spec(kind, lr);
    s.weight_decay = 0.1f;
    CheckAgainstReference(s, kSmallParams, SmallGrads());
  }
  SECTION("other hyper-parameters") {
    OptimizerSpec s = Spec(kind, lr);
    s.momentum = 0.5f;
    s.beta1 = 0.8f;
    s.beta2 = 0.95f;
    s.epsilon = 1e-3f;
    s.weight_decay = 0.01f;
    CheckAgainstReference(s, kSmallParams, SmallGrads());
  }
  SECTION("cosine schedule with warm-up") {
    OptimizerSpec s = Spec(kind, lr);
    s.schedule = LrSchedule::kCosine;
    s.warmup_steps = 2;
    s.total_steps = 6;
    s.weight_decay = 0.05f;
    CheckAgainstReference(s, kSmallParams, SmallGrads());
  }
  SECTION("step schedule") {
    OptimizerSpec s = Spec(kind, lr);
    s.schedule = LrSchedule::kStep;
    s.step_gamma = 0.5f;
    s.step_size = 2;  // rate halves after steps 2 and 4
    CheckAgainstReference(s, kSmallParams, SmallGrads());
    // Starting late (steps 999..1003, halving after step 1000) also exercises
    // Adam's bias corrections far from 1 - beta.
    s.step_size = 500;
    CheckAgainstReference(s, kSmallParams, SmallGrads(), /*first_step=*/999);
  }
  SECTION("37 params") {
    OptimizerSpec s = Spec(kind, lr);
    s.weight_decay = 0.02f;
    CheckAgainstReference(s, LongParams(37), LongGrads(37, 6));
  }
}

// ---------------------------------------------------------------------------
// Learning-rate schedules.

TEST_CASE("Optimizer: constant schedule returns the base rate", "[ps]") {
  OptimizerSpec s = Spec(OptimizerKind::kSgd, 0.25f);
  s.schedule = LrSchedule::kConstant;
  CHECK(LearningRateAt(s, 1) == 0.25f);
  CHECK(LearningRateAt(s, 2) == 0.25f);
  CHECK(LearningRateAt(s, 1000000) == 0.25f);
  CHECK(LearningRateAt(s, std::numeric_limits<uint64_t>::max()) == 0.25f);
}

TEST_CASE("Optimizer: step schedule decays at multiples of step_size", "[ps]") {
  OptimizerSpec s = Spec(OptimizerKind::kSgd, 0.1f);
  s.schedule = LrSchedule::kStep;
  s.step_size = 10;
  s.step_gamma = 0.5f;
  // Steps 1..10 use lr, 11..20 lr*0.5, 21..30 lr*0.25.
  CHECK(LearningRateAt(s, 1) == Approx(0.1));
  CHECK(LearningRateAt(s, 10) == Approx(0.1));
  CHECK(LearningRateAt(s, 11) == Approx(0.05));
  CHECK(LearningRateAt(s, 20) == Approx(0.05));
  CHECK(LearningRateAt(s, 21) == Approx(0.025));
  // Step 1000: 0.1 * 0.5^99 = 1.58e-31, still a normal float.
  CHECK(LearningRateAt(s, 1000) == Approx(0.1 * std::pow(0.5, 99)));
  // At the last step the power underflows: exactly 0, not NaN or garbage.
  CHECK(LearningRateAt(s, std::numeric_limits<uint64_t>::max()) == 0.0f);
}

TEST_CASE("Optimizer: cosine schedule warms up then decays to zero", "[ps]") {
  OptimizerSpec s = Spec(OptimizerKind::kSgd, 0.8f);
  s.schedule = LrSchedule::kCosine;
  s.warmup_steps = 4;
  s.total_steps = 14;  // decay over steps 5..14 (10 steps)
  // Warm-up ramp: lr * step / 4.
  CHECK(LearningRateAt(s, 1) == Approx(0.2));
  CHECK(LearningRateAt(s, 2) == Approx(0.4));
  CHECK(LearningRateAt(s, 3) == Approx(0.6));
  CHECK(LearningRateAt(s, 4) == Approx(0.8));  // end of warm-up: the full rate
  // Step 5: progress 1/10, 0.8 * 0.5 * (1 + cos(0.1 pi)) = 0.4 * 1.9510565 = 0.7804226.
  CHECK(LearningRateAt(s, 5) == Approx(0.7804226));
  // Step 9: halfway through the decay, cos(pi/2) = 0, so lr / 2.
  CHECK(LearningRateAt(s, 9) == Approx(0.4));
  CHECK(LearningRateAt(s, 14) == 0.0f);
  CHECK(LearningRateAt(s, 15) == 0.0f);
  CHECK(LearningRateAt(s, 1000000) == 0.0f);

  SECTION("without warm-up the decay starts at step 1") {
    s.warmup_steps = 0;
    s.total_steps = 10;
    // Step 1: progress 1/10 as above; step 5: halfway.
    CHECK(LearningRateAt(s, 1) == Approx(0.7804226));
    CHECK(LearningRateAt(s, 5) == Approx(0.4));
    CHECK(LearningRateAt(s, 10) == 0.0f);
  }
}

TEST_CASE("Optimizer: Apply uses the scheduled rate", "[ps]") {
  OptimizerSpec s = Spec(OptimizerKind::kSgd, 0.1f);
  s.schedule = LrSchedule::kStep;
  s.step_size = 2;
  s.step_gamma = 0.5f;
  auto opt = MustCreate(s, 1);
  float p = 1.0f;
  const float g = 1.0f;
  // Rates 0.1, 0.1, 0.05, 0.05: p = 1 - 0.1 - 0.1 - 0.05 - 0.05.
  const float expected[] = {0.9f, 0.8f, 0.75f, 0.7f};
  for (uint64_t t = 1; t <= 4; ++t) {
    opt->Apply(&p, &g, t);
    CHECK(p == Approx(expected[t - 1]));
  }
}

// ---------------------------------------------------------------------------
// Each kind against the double-precision reference.

TEST_CASE("Optimizer: SGD matches the reference", "[ps]") {
  CheckKindAgainstReference(OptimizerKind::kSgd, 0.1f);
}
TEST_CASE("Optimizer: Momentum matches the reference", "[ps]") {
  CheckKindAgainstReference(OptimizerKind::kMomentum, 0.05f);
}
TEST_CASE("Optimizer: Nesterov matches the reference", "[ps]") {
  CheckKindAgainstReference(OptimizerKind::kNesterov, 0.05f);
}
TEST_CASE("Optimizer: Adagrad matches the reference", "[ps]") {
  CheckKindAgainstReference(OptimizerKind::kAdagrad, 0.1f);
}
TEST_CASE("Optimizer: Adam matches the reference", "[ps]") {
  CheckKindAgainstReference(OptimizerKind::kAdam, 0.01f);
}
TEST_CASE("Optimizer: AdamW matches the reference", "[ps]") {
  CheckKindAgainstReference(OptimizerKind::kAdamW, 0.01f);
}

// ---------------------------------------------------------------------------
// Each kind against numbers worked out by hand.

TEST_CASE("Optimizer: SGD by hand", "[ps]") {
  OptimizerSpec s = Spec(OptimizerKind::kSgd, 0.1f);
  SECTION("plain") {
    auto opt = MustCreate(s, 2);
    std::vector<float> p = {1.0f, -2.0f};
    const std::vector<float> g = {0.5f, 0.25f};
    opt->Apply(p.data(), g.data(), 1);
    CHECK(p[0] == Approx(0.95));    // 1 - 0.1*0.5
    CHECK(p[1] == Approx(-2.025));  // -2 - 0.1*0.25
  }
  SECTION("L2 weight decay") {
    s.weight_decay = 0.1f;
    auto opt = MustCreate(s, 2);
    std::vector<float> p = {1.0f, -2.0f};
    const std::vector<float> g = {0.5f, 0.25f};
    opt->Apply(p.data(), g.data(), 1);
    CHECK(p[0] == Approx(0.94));    // g = 0.5 + 0.1*1 = 0.6;     1 - 0.1*0.6
    CHECK(p[1] == Approx(-2.005));  // g = 0.25 + 0.1*-2 = 0.05; -2 - 0.1*0.05
  }
}

TEST_CASE("Optimizer: Momentum by hand", "[ps]") {
  OptimizerSpec s = Spec(OptimizerKind::kMomentum, 0.1f);  // mu = 0.9
  auto opt = MustCreate(s, 1);
  float p = 1.0f;
  float g = 1.0f;
  opt->Apply(&p, &g, 1);
  CHECK(opt->slot(0)[0] == Approx(1.0));  // v = 0.9*0 + 1
  CHECK(p == Approx(0.9));                // 1 - 0.1*1
  opt->Apply(&p, &g, 2);
  CHECK(opt->slot(0)[0] == Approx(1.9));  // v = 0.9*1 + 1
  CHECK(p == Approx(0.71));               // 0.9 - 0.1*1.9
  g = -2.0f;
  opt->Apply(&p, &g, 3);
  CHECK(opt->slot(0)[0] == Approx(-0.29));  // v = 0.9*1.9 - 2 = 1.71 - 2
  CHECK(p == Approx(0.739));                // 0.71 - 0.1*-0.29
}

TEST_CASE("Optimizer: Nesterov by hand", "[ps]") {
  OptimizerSpec s = Spec(OptimizerKind::kNesterov, 0.1f);  // mu = 0.9
  auto opt = MustCreate(s, 1);
  float p = 1.0f;
  float g = 1.0f;
  opt->Apply(&p, &g, 1);
  CHECK(opt->slot(0)[0] == Approx(1.0));  // v = 1
  CHECK(p == Approx(0.81));               // 1 - 0.1*(1 + 0.9*1)
  opt->Apply(&p, &g, 2);
  CHECK(opt->slot(0)[0] == Approx(1.9));  // v = 0.9*1 + 1
  CHECK(p == Approx(0.539));              // 0.81 - 0.1*(1 + 0.9*1.9) = 0.81 - 0.271
  g = -2.0f;
  opt->Apply(&p, &g, 3);
  CHECK(opt->slot(0)[0] == Approx(-0.29));  // v = 1.71 - 2
  CHECK(p == Approx(0.7651));               // 0.539 - 0.1*(-2 + 0.9*-0.29) = 0.539 + 0.2261
}

TEST_CASE("Optimizer: Adagrad by hand", "[ps]") {
  OptimizerSpec s = Spec(OptimizerKind::kAdagrad, 0.1f);  // eps = 1e-8
  auto opt = MustCreate(s, 2);
  std::vector<float> p = {1.0f, 1.0f};
  std::vector<float> g = {2.0f, -0.5f};
  opt->Apply(p.data(), g.data(), 1);
  // h = g^2, so the first step is lr*g/|g| = lr*sign(g) (eps is negligible).
  CHECK(opt->slot(0)[0] == Approx(4.0));
  CHECK(opt->slot(0)[1] == Approx(0.25));
  CHECK(p[0] == Approx(0.9));  // 1 - 0.1*2/2
  CHECK(p[1] == Approx(1.1));  // 1 - 0.1*-0.5/0.5
  g = {1.5f, -1.2f};
  opt->Apply(p.data(), g.data(), 2);
  CHECK(opt->slot(0)[0] == Approx(6.25));   // 4 + 2.25
  CHECK(opt->slot(0)[1] == Approx(1.69));   // 0.25 + 1.44
  CHECK(p[0] == Approx(0.84));              // 0.9 - 0.1*1.5/2.5
  CHECK(p[1] == Approx(1.1 + 0.12 / 1.3));  // 1.1 - 0.1*-1.2/1.3 = 1.1923077
}

TEST_CASE("Optimizer: Adam by hand", "[ps]") {
  OptimizerSpec s = Spec(OptimizerKind::kAdam, 0.001f);  // b1 0.9, b2 0.999, eps 1e-8
  auto opt = MustCreate(s, 3);
  std::vector<float> p = {1.0f, -1.0f, 0.5f};
  const std::vector<float> g = {0.3f, -4.0f, 2.0f};
  opt->Apply(p.data(), g.data(), 1);
  // m = 0.1 g, v = 0.001 g^2; m_hat = m/0.1 = g, v_hat = v/0.001 = g^2, so the
  // step is lr * g/|g| = 0.001*sign(g), whatever the gradient's size.
  CHECK(opt->slot(0)[1] == Approx(-0.4));  // 0.1 * -4
  // 0.001 * 16. The float beta2 0.999f is 0.99900001, so 1 - beta2 is 1.3e-5
  // below 0.001 relatively: hence the looser tolerance on v here and below.
  CHECK(opt->slot(1)[1] == Approx(0.016).epsilon(1e-4));
  CHECK(p[0] == Approx(0.999));
  CHECK(p[1] == Approx(-0.999));
  CHECK(p[2] == Approx(0.499));
  // With a constant gradient the bias-corrected moments stay g and g^2 (step 2:
  // m = 0.19 g, 1 - 0.9^2 = 0.19; v = 0.001999 g^2, 1 - 0.999^2 = 0.001999), so
  // every step moves by lr*sign(g): after 3 steps p = p0 - 0.003*sign(g).
  opt->Apply(p.data(), g.data(), 2);
  opt->Apply(p.data(), g.data(), 3);
  CHECK(p[0] == Approx(0.997));
  CHECK(p[1] == Approx(-0.997));
  CHECK(p[2] == Approx(0.497));
}

TEST_CASE("Optimizer: AdamW by hand", "[ps]") {
  OptimizerSpec s = Spec(OptimizerKind::kAdamW, 0.01f);
  s.weight_decay = 0.1f;
  auto opt = MustCreate(s, 1);
  float p = 2.0f;
  const float g = 0.5f;
  opt->Apply(&p, &g, 1);
  // The decay does not enter the moments (m = 0.1*0.5 exactly as without it);
  // Adam step: 2 - 0.01*sign(0.5) = 1.99; decoupled decay: 1.99 - 0.01*0.1*1.99
  // = 1.99 - 0.00199 = 1.98801. (Adam with L2 would instead use g = 0.7 and land
  // on 1.99.)
  CHECK(opt->slot(0)[0] == Approx(0.05));
  CHECK(opt->slot(1)[0] == Approx(0.00025).epsilon(1e-4));  // 0.001 * 0.25
  CHECK(p == Approx(1.98801));
  opt->Apply(&p, &g, 2);
  // Constant gradient: Adam step again 0.01. 1.98801 - 0.01 = 1.97801;
  // decay: 1.97801 * (1 - 0.001) = 1.97603199.
  CHECK(p == Approx(1.97603199));
}

TEST_CASE("Optimizer: Adam L2 weight decay enters the moments", "[ps]") {
  OptimizerSpec s = Spec(OptimizerKind::kAdam, 0.01f);
  s.weight_decay = 0.1f;
  auto opt = MustCreate(s, 1);
  float p = 2.0f;
  const float g = 0.5f;
  opt->Apply(&p, &g, 1);
  // g = 0.5 + 0.1*2 = 0.7; m = 0.07; v = 0.001*0.49; the step is still lr*sign(g).
  CHECK(opt->slot(0)[0] == Approx(0.07));
  CHECK(opt->slot(1)[0] == Approx(0.00049).epsilon(1e-4));
  CHECK(p == Approx(1.99));
}

// ---------------------------------------------------------------------------
// Create and slots.

TEST_CASE("Optimizer: Create rejects invalid specs", "[ps]") {
  const OptimizerKind kind =
      GENERATE(OptimizerKind::kSgd, OptimizerKind::kMomentum, OptimizerKind::kNesterov,
               OptimizerKind::kAdagrad, OptimizerKind::kAdam, OptimizerKind::kAdamW);
  const OptimizerSpec good = Spec(kind, 0.01f);
  REQUIRE(Optimizer::Create(good, 4).ok());

  std::vector<std::pair<std::string, OptimizerSpec>> bad;
  auto add = [&](const std::string& what, auto mutate) {
    OptimizerSpec s = good;
    mutate(s);
    bad.emplace_back(what, s);
  };
  add("negative lr", [](OptimizerSpec& s) { s.learning_rate = -0.1f; });
  add("zero lr", [](OptimizerSpec& s) { s.learning_rate = 0.0f; });
  add("NaN lr", [](OptimizerSpec& s) { s.learning_rate = std::nanf(""); });
  add("infinite lr",
      [](OptimizerSpec& s) { s.learning_rate = std::numeric_limits<float>::infinity(); });
  add("momentum 1", [](OptimizerSpec& s) { s.momentum = 1.0f; });
  add("negative momentum", [](OptimizerSpec& s) { s.momentum = -0.1f; });
  add("beta1 1", [](OptimizerSpec& s) { s.beta1 = 1.0f; });
  add("beta1 above 1", [](OptimizerSpec& s) { s.beta1 = 1.5f; });
  add("beta2 1", [](OptimizerSpec& s) { s.beta2 = 1.0f; });
  add("zero epsilon", [](OptimizerSpec& s) { s.epsilon = 0.0f; });
  add("negative weight decay", [](OptimizerSpec& s) { s.weight_decay = -0.01f; });
  add("step_size 0", [](OptimizerSpec& s) {
    s.schedule = LrSchedule::kStep;
    s.step_size = 0;
  });
  add("step_gamma 0", [](OptimizerSpec& s) {
    s.schedule = LrSchedule::kStep;
    s.step_gamma = 0.0f;
  });
  add("cosine total == warmup", [](OptimizerSpec& s) {
    s.schedule = LrSchedule::kCosine;
    s.warmup_steps = 100;
    s.total_steps = 100;
  });
  add("unknown schedule", [](OptimizerSpec& s) { s.schedule = static_cast<LrSchedule>(7); });
  add("unknown kind", [](OptimizerSpec& s) { s.kind = static_cast<OptimizerKind>(42); });

  for (const auto& [what, spec] : bad) {
    INFO(OptimizerKindName(kind) << ": " << what);
    auto opt = Optimizer::Create(spec, 4);
    CHECK(opt.status().code() == StatusCode::kInvalidArgument);
  }
}

TEST_CASE("Optimizer: Create bounds n at 2^32", "[ps]") {
  const uint64_t kMax = uint64_t{1} << 32;
  // SGD keeps no state, so the largest range is cheap to create.
  auto at_max = Optimizer::Create(Spec(OptimizerKind::kSgd, 0.1f), kMax);
  REQUIRE(at_max.ok());
  CHECK((*at_max)->size() == kMax);
  for (OptimizerKind kind : {OptimizerKind::kSgd, OptimizerKind::kAdam}) {
    auto over = Optimizer::Create(Spec(kind, 0.1f), kMax + 1);
    CHECK(over.status().code() == StatusCode::kInvalidArgument);
  }
}

TEST_CASE("Optimizer: slot names and sizes per kind", "[ps]") {
  struct Case {
    OptimizerKind kind;
    std::vector<std::string> names;
  };
  const Case cases[] = {
      {OptimizerKind::kSgd, {}},
      {OptimizerKind::kMomentum, {"velocity"}},
      {OptimizerKind::kNesterov, {"velocity"}},
      {OptimizerKind::kAdagrad, {"accum"}},
      {OptimizerKind::kAdam, {"m", "v"}},
      {OptimizerKind::kAdamW, {"m", "v"}},
  };
  for (const Case& c : cases) {
    INFO(OptimizerKindName(c.kind));
    auto opt = MustCreate(Spec(c.kind, 0.01f), 5);
    CHECK(opt->size() == 5);
    CHECK(opt->SlotNames() == c.names);
    for (size_t i = 0; i < c.names.size(); ++i) {
      const float* slot = opt->slot(i);
      REQUIRE(slot != nullptr);
      for (size_t j = 0; j < 5; ++j) CHECK(slot[j] == 0.0f);  // state starts at zero
    }

    // An empty range is valid and Apply is a no-op on it.
    auto empty = MustCreate(Spec(c.kind, 0.01f), 0);
    CHECK(empty->size() == 0);
    CHECK(empty->SlotNames() == c.names);
    empty->Apply(nullptr, nullptr, 1);
  }
}

TEST_CASE("Optimizer: state restored from slots continues identically", "[ps]") {
  // The slots plus the step number are the whole state: copying them into a
  // fresh optimizer (as a PS does when it reloads a shard) gives bit-identical
  // updates afterwards.
  const OptimizerKind kind =
      GENERATE(OptimizerKind::kMomentum, OptimizerKind::kNesterov, OptimizerKind::kAdagrad,
               OptimizerKind::kAdam, OptimizerKind::kAdamW);
  INFO(OptimizerKindName(kind));
  OptimizerSpec s = Spec(kind, 0.01f);
  s.weight_decay = 0.01f;
  const auto grads = SmallGrads();
  std::vector<float> p = kSmallParams;
  auto first = MustCreate(s, p.size());
  first->Apply(p.data(), grads[0].data(), 1);
  first->Apply(p.data(), grads[1].data(), 2);

  auto second = MustCreate(s, p.size());
  for (size_t i = 0; i < first->SlotNames().size(); ++i)
    std::copy(first->slot(i), first->slot(i) + p.size(), second->slot(i));
  std::vector<float> q = p;
  first->Apply(p.data(), grads[2].data(), 3);
  second->Apply(q.data(), grads[2].data(), 3);
  CHECK(p == q);
}

TEST_CASE("Optimizer: ApplyScaled gives the bits of Apply on a scaled copy", "[ps]") {
  // The PS scales gradient sums by 1 / samples inside the update instead of
  // in a separate pass; that must not change a single bit of the model.
  const OptimizerKind kind =
      GENERATE(OptimizerKind::kSgd, OptimizerKind::kMomentum, OptimizerKind::kNesterov,
               OptimizerKind::kAdagrad, OptimizerKind::kAdam, OptimizerKind::kAdamW);
  INFO(OptimizerKindName(kind));
  OptimizerSpec s = Spec(kind, 0.01f);
  s.weight_decay = 0.01f;
  const float scale = 1.0f / 192.0f;  // 1 / samples of three workers' batches of 64
  const size_t n = 101;              // a vectorised main loop and a scalar tail
  const auto grads = LongGrads(n, 5);
  std::vector<float> scaled_p = LongParams(n), copy_p = LongParams(n);
  auto scaled = MustCreate(s, n);
  auto copied = MustCreate(s, n);
  for (size_t k = 0; k < grads.size(); ++k) {
    std::vector<float> g = grads[k];
    for (float& x : g) x *= scale;
    copied->Apply(copy_p.data(), g.data(), k + 1);
    scaled->ApplyScaled(scaled_p.data(), grads[k].data(), scale, k + 1);
  }
  CHECK(scaled_p == copy_p);
  for (size_t i = 0; i < scaled->SlotNames().size(); ++i)
    CHECK(std::equal(scaled->slot(i), scaled->slot(i) + n, copied->slot(i)));
  // A scale that matters: the result differs from the unscaled update.
  std::vector<float> unscaled_p = LongParams(n);
  auto unscaled = MustCreate(s, n);
  for (size_t k = 0; k < grads.size(); ++k) unscaled->Apply(unscaled_p.data(), grads[k].data(), k + 1);
  CHECK(unscaled_p != scaled_p);
}

}  // namespace
}  // namespace pst
