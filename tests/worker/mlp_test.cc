#include "worker/mlp.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

namespace pst {
namespace {

Mlp MakeMlp(std::vector<uint32_t> sizes, Activation act = Activation::kRelu) {
  ModelSpec spec;
  spec.layer_sizes = std::move(sizes);
  spec.activation = act;
  StatusOr<Mlp> mlp = Mlp::Create(spec);
  INFO(mlp.status().ToString());
  REQUIRE(mlp.ok());
  return std::move(mlp).value();
}

std::vector<float> Uniform(size_t n, float lo, float hi, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& f : v) f = dist(rng);
  return v;
}

std::vector<int32_t> RandomLabels(size_t n, size_t classes, std::mt19937& rng) {
  std::vector<int32_t> v(n);
  for (int32_t& y : v) y = static_cast<int32_t>(rng() % classes);
  return v;
}

const char* Name(Activation a) {
  switch (a) {
    case Activation::kRelu:
      return "relu";
    case Activation::kTanh:
      return "tanh";
    case Activation::kSigmoid:
      return "sigmoid";
  }
  return "?";
}

TEST_CASE("Mlp: Create validates the spec", "[worker]") {
  ModelSpec spec;
  spec.layer_sizes = {5};
  CHECK(Mlp::Create(spec).status().code() == StatusCode::kInvalidArgument);
  spec.layer_sizes = {5, 0, 3};
  CHECK(Mlp::Create(spec).status().code() == StatusCode::kInvalidArgument);
  spec.layer_sizes = {5, 1};
  CHECK(Mlp::Create(spec).status().code() == StatusCode::kInvalidArgument);
  spec.layer_sizes = {5, 3};
  spec.activation = static_cast<Activation>(9);
  CHECK(Mlp::Create(spec).status().code() == StatusCode::kInvalidArgument);

  Mlp mlp = MakeMlp({784, 128, 10});
  CHECK(mlp.num_inputs() == 784);
  CHECK(mlp.num_classes() == 10);
  CHECK(mlp.layout().total() == 784u * 128 + 128 + 128 * 10 + 10);
}

TEST_CASE("Mlp: gradients match central finite differences", "[worker]") {
  std::mt19937 rng(42);
  for (const std::vector<uint32_t>& sizes :
       {std::vector<uint32_t>{5, 4, 3}, std::vector<uint32_t>{6, 5, 4, 3}}) {
    for (Activation act : {Activation::kRelu, Activation::kTanh, Activation::kSigmoid}) {
      Mlp mlp = MakeMlp(sizes, act);
      const size_t n = 3, total = mlp.layout().total();
      std::vector<float> params = Uniform(total, -1.0f, 1.0f, rng);
      const std::vector<float> x = Uniform(n * mlp.num_inputs(), -1.0f, 1.0f, rng);
      const std::vector<int32_t> labels = RandomLabels(n, mlp.num_classes(), rng);
      std::vector<float> grad(total, std::numeric_limits<float>::quiet_NaN());
      const double loss =
          mlp.ForwardBackward(params.data(), x.data(), labels.data(), n, grad.data());
      INFO(sizes.size() << " layers, " << Name(act));
      CHECK(loss == Approx(mlp.Loss(params.data(), x.data(), labels.data(), n)).epsilon(1e-6));

      const float eps = 1e-3f;
      size_t mismatches = 0;
      for (size_t k = 0; k < total; ++k) {
        const float p = params[k];
        params[k] = p + eps;
        const double hi_arg = params[k];
        const double hi = mlp.Loss(params.data(), x.data(), labels.data(), n);
        params[k] = p - eps;
        const double lo_arg = params[k];
        const double lo = mlp.Loss(params.data(), x.data(), labels.data(), n);
        params[k] = p;
        // Divide by the step actually taken in float, not by 2 * eps.
        const double numeric = (hi - lo) / (hi_arg - lo_arg);
        const double analytic = grad[k];
        const double tol = 1e-3 + 1e-2 * std::max(std::abs(numeric), std::abs(analytic));
        if (!(std::abs(numeric - analytic) <= tol)) {
          ++mismatches;
          UNSCOPED_INFO("param " << k << ": analytic " << analytic << " numeric " << numeric);
        }
      }
      CHECK(mismatches == 0);
    }
  }
}

TEST_CASE("Mlp: loss and gradient of a hand-computed softmax regression", "[worker]") {
  Mlp mlp = MakeMlp({2, 2});
  // W = [[1, 2], [3, 4]] (row-major [in, out]), b = [0.5, -0.5].
  const std::vector<float> params = {1, 2, 3, 4, 0.5f, -0.5f};
  // Both samples are x = [1, -1], so z = x W + b = [1 - 3 + 0.5, 2 - 4 - 0.5] = [-1.5, -2.5].
  const std::vector<float> x = {1, -1, 1, -1};
  const std::vector<int32_t> labels = {0, 1};
  // CE(label 0) = -log(e^-1.5 / (e^-1.5 + e^-2.5)) = log(1 + e^-1) = 0.31326168751822286
  // CE(label 1) = log(1 + e^1) = 1.3132616875182228
  CHECK(mlp.Loss(params.data(), x.data(), labels.data(), 1) == Approx(0.31326168751822286));
  CHECK(mlp.Loss(params.data(), x.data() + 2, labels.data() + 1, 1) == Approx(1.3132616875182228));
  CHECK(mlp.Loss(params.data(), x.data(), labels.data(), 2) == Approx(1.6265233750364456));

  // softmax(z) = [s, 1 - s] with s = sigmoid(1) = 0.7310585786300049.
  // delta(label 0) = [s - 1, 1 - s], delta(label 1) = [s, -s]; summed: [2s - 1, 1 - 2s].
  const double d = 2 * 0.7310585786300049 - 1;  // 0.46211715726000974
  std::vector<float> grad(6);
  const double loss = mlp.ForwardBackward(params.data(), x.data(), labels.data(), 2, grad.data());
  CHECK(loss == Approx(1.6265233750364456));
  // dW[i][j] = sum_n x_n[i] * delta_n[j] with x_n = [1, -1]; db = sum_n delta_n.
  const std::vector<double> expected = {d, -d, -d, d, d, -d};
  for (size_t k = 0; k < 6; ++k) {
    INFO("param " << k);
    CHECK(grad[k] == Approx(expected[k]).epsilon(1e-5));
  }
}

TEST_CASE("Mlp: the loss is stable for huge logits", "[worker]") {
  Mlp mlp = MakeMlp({1, 2});
  // z = [1000, -1000]: a naive softmax overflows exp.
  const std::vector<float> params = {1000, -1000, 0, 0};
  const float x = 1.0f;
  const int32_t right = 0, wrong = 1;
  CHECK(mlp.Loss(params.data(), &x, &right, 1) == Approx(0.0).margin(1e-12));
  CHECK(mlp.Loss(params.data(), &x, &wrong, 1) == Approx(2000.0));
  std::vector<float> grad(4);
  CHECK(mlp.ForwardBackward(params.data(), &x, &wrong, 1, grad.data()) == Approx(2000.0));
  CHECK(grad == std::vector<float>{1, -1, 1, -1});
}

TEST_CASE("Mlp: n == 0 zeroes grad and returns 0", "[worker]") {
  Mlp mlp = MakeMlp({5, 4, 3}, Activation::kTanh);
  std::mt19937 rng(1);
  const std::vector<float> params = Uniform(mlp.layout().total(), -1.0f, 1.0f, rng);
  std::vector<float> grad(mlp.layout().total(), 7.0f);
  CHECK(mlp.ForwardBackward(params.data(), nullptr, nullptr, 0, grad.data()) == 0.0);
  CHECK(std::all_of(grad.begin(), grad.end(), [](float g) { return g == 0.0f; }));
  CHECK(mlp.Loss(params.data(), nullptr, nullptr, 0) == 0.0);
  CHECK(mlp.CountCorrect(params.data(), nullptr, nullptr, 0) == 0);
}

TEST_CASE("Mlp: CountCorrect on a hand-built case, across internal batches", "[worker]") {
  Mlp mlp = MakeMlp({2, 3});
  // z = [x0, x1, 0.5].
  const std::vector<float> params = {1, 0, 0, 0, 1, 0, 0, 0, 0.5f};
  const std::vector<float> x = {2, 0, 0, 2, 0, 0, 0.1f, 0.2f};
  // Predictions: 0, 1, 2, 2. The last label is wrong.
  const std::vector<int32_t> labels = {0, 1, 2, 0};
  CHECK(mlp.CountCorrect(params.data(), x.data(), labels.data(), 4) == 3);
  CHECK(mlp.CountCorrect(params.data(), x.data(), labels.data(), 3) == 3);
  CHECK(mlp.CountCorrect(params.data(), x.data() + 6, labels.data() + 3, 1) == 0);

  // 2800 samples span three internal batches of 1024.
  std::vector<float> big_x;
  std::vector<int32_t> big_labels;
  for (int r = 0; r < 700; ++r) {
    big_x.insert(big_x.end(), x.begin(), x.end());
    big_labels.insert(big_labels.end(), labels.begin(), labels.end());
  }
  CHECK(mlp.CountCorrect(params.data(), big_x.data(), big_labels.data(), 2800) == 2100);
}

TEST_CASE("Mlp: out-of-range labels give a NaN loss instead of a crash", "[worker]") {
  Mlp mlp = MakeMlp({2, 3});
  const std::vector<float> params(9, 0.1f);
  const std::vector<float> x = {1, 2, 3, 4};
  const std::vector<int32_t> labels = {-1, 3};
  std::vector<float> grad(9);
  CHECK(std::isnan(mlp.ForwardBackward(params.data(), x.data(), labels.data(), 2, grad.data())));
  CHECK(std::isnan(mlp.Loss(params.data(), x.data(), labels.data(), 2)));
  CHECK(mlp.CountCorrect(params.data(), x.data(), labels.data(), 2) == 0);
}

TEST_CASE("Mlp: gradients and losses are sums over the batch", "[worker]") {
  std::mt19937 rng(5);
  Mlp mlp = MakeMlp({6, 5, 4, 3}, Activation::kTanh);
  const size_t total = mlp.layout().total(), in = mlp.num_inputs();
  const std::vector<float> params = Uniform(total, -1.0f, 1.0f, rng);
  const std::vector<float> x = Uniform(2 * in, -1.0f, 1.0f, rng);
  const std::vector<int32_t> labels = {2, 0};
  std::vector<float> g_ab(total), g_a(total), g_b(total);
  const double l_ab = mlp.ForwardBackward(params.data(), x.data(), labels.data(), 2, g_ab.data());
  const double l_a = mlp.ForwardBackward(params.data(), x.data(), labels.data(), 1, g_a.data());
  const double l_b =
      mlp.ForwardBackward(params.data(), x.data() + in, labels.data() + 1, 1, g_b.data());
  CHECK(l_ab == Approx(l_a + l_b).epsilon(1e-6));
  for (size_t k = 0; k < total; ++k) {
    INFO("param " << k);
    CHECK(g_ab[k] == Approx(g_a[k] + g_b[k]).epsilon(1e-5).margin(1e-6));
  }
}

TEST_CASE("Mlp: batches larger than the internal chunk accumulate correctly", "[worker]") {
  std::mt19937 rng(9);
  Mlp mlp = MakeMlp({8, 6, 4}, Activation::kSigmoid);
  const size_t n = 2500, part = 1000, total = mlp.layout().total(), in = mlp.num_inputs();
  const std::vector<float> params = Uniform(total, -1.0f, 1.0f, rng);
  const std::vector<float> x = Uniform(n * in, -1.0f, 1.0f, rng);
  const std::vector<int32_t> labels = RandomLabels(n, mlp.num_classes(), rng);

  // The output buffer starts as NaN: every entry must be written, not added to.
  std::vector<float> g_all(total, std::numeric_limits<float>::quiet_NaN());
  const double l_all = mlp.ForwardBackward(params.data(), x.data(), labels.data(), n, g_all.data());
  std::vector<double> g_sum(total, 0.0);
  double l_sum = 0;
  std::vector<float> g_part(total);
  for (size_t start = 0; start < n; start += part) {
    const size_t rows = std::min(part, n - start);
    l_sum += mlp.ForwardBackward(params.data(), x.data() + start * in, labels.data() + start, rows,
                                 g_part.data());
    for (size_t k = 0; k < total; ++k) g_sum[k] += g_part[k];
  }
  CHECK(l_all == Approx(l_sum).epsilon(1e-6));
  CHECK(l_all == Approx(mlp.Loss(params.data(), x.data(), labels.data(), n)).epsilon(1e-6));
  for (size_t k = 0; k < total; ++k) {
    INFO("param " << k);
    CHECK(g_all[k] == Approx(g_sum[k]).epsilon(1e-4).margin(1e-3));
  }
}

TEST_CASE("Mlp: the default model runs a batch of 64", "[worker]") {
  ModelSpec spec;  // {784, 128, 10}, ReLU, He init
  Mlp mlp = MakeMlp(spec.layer_sizes, spec.activation);
  std::vector<float> params(mlp.layout().total());
  InitParams(spec, mlp.layout(), 0, params.size(), params.data());
  std::mt19937 rng(3);
  const std::vector<float> x = Uniform(64 * 784, 0.0f, 1.0f, rng);
  const std::vector<int32_t> labels = RandomLabels(64, 10, rng);
  std::vector<float> grad(params.size());
  const double loss = mlp.ForwardBackward(params.data(), x.data(), labels.data(), 64, grad.data());
  CHECK(std::isfinite(loss));
  CHECK(loss > 0);
  CHECK(std::all_of(grad.begin(), grad.end(), [](float g) { return std::isfinite(g); }));
  // Repeated calls reuse the scratch buffers and give identical results.
  std::vector<float> grad2(params.size());
  CHECK(mlp.ForwardBackward(params.data(), x.data(), labels.data(), 64, grad2.data()) == loss);
  CHECK(grad2 == grad);
}

TEST_CASE("Mlp: SGD steps reduce the loss on a separable problem", "[worker]") {
  const size_t dim = 10, classes = 3, n = 600, batch = 30, steps = 300;
  std::mt19937 rng(2024);
  // Three well-separated Gaussian blobs.
  std::vector<float> centers = Uniform(classes * dim, -1.0f, 1.0f, rng);
  for (float& c : centers) c = c > 0 ? 2.0f : -2.0f;
  std::normal_distribution<float> noise(0.0f, 0.7f);
  std::vector<float> x(n * dim);
  const std::vector<int32_t> labels = RandomLabels(n, classes, rng);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < dim; ++j) {
      x[i * dim + j] = centers[static_cast<size_t>(labels[i]) * dim + j] + noise(rng);
    }
  }
  for (Activation act : {Activation::kRelu, Activation::kTanh, Activation::kSigmoid}) {
    INFO(Name(act));
    ModelSpec spec;
    spec.layer_sizes = {dim, 16, classes};
    spec.activation = act;
    spec.init = InitKind::kXavier;
    Mlp mlp = MakeMlp(spec.layer_sizes, act);
    std::vector<float> params(mlp.layout().total());
    InitParams(spec, mlp.layout(), 0, params.size(), params.data());
    std::vector<float> grad(params.size());
    const double initial = mlp.Loss(params.data(), x.data(), labels.data(), n) / n;
    const float lr = 0.1f;
    for (size_t step = 0; step < steps; ++step) {
      const size_t start = (step * batch) % n;
      mlp.ForwardBackward(params.data(), x.data() + start * dim, labels.data() + start, batch,
                          grad.data());
      // grad is a sum over the batch: divide by the batch size for a mean step.
      for (size_t k = 0; k < params.size(); ++k) params[k] -= lr * grad[k] / batch;
    }
    const double final_loss = mlp.Loss(params.data(), x.data(), labels.data(), n) / n;
    INFO("mean loss " << initial << " -> " << final_loss);
    CHECK(final_loss < 0.2 * initial);
    CHECK(mlp.CountCorrect(params.data(), x.data(), labels.data(), n) >= n * 95 / 100);
  }
}

}  // namespace
}  // namespace pst
