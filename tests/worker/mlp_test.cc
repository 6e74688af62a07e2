#include "worker/mlp.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <ostream>
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

// Number of params whose entry in grad differs from a central finite
// difference of mlp.Loss (each mismatch is logged).
size_t FiniteDifferenceMismatches(Mlp& mlp, std::vector<float>& params, const std::vector<float>& x,
                                  const std::vector<int32_t>& labels,
                                  const std::vector<float>& grad) {
  const size_t n = labels.size();
  const float eps = 1e-3f;
  size_t mismatches = 0;
  for (size_t k = 0; k < params.size(); ++k) {
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
  return mismatches;
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
      CHECK(FiniteDifferenceMismatches(mlp, params, x, labels, grad) == 0);
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

TEST_CASE("Mlp: Evaluate counts and sums per-sample losses in one pass, ties to the lowest class",
          "[worker]") {
  Mlp mlp = MakeMlp({2, 3});
  // z = [x0, x1, 0.5]; the third sample ties classes 0 and 1 (predicts 0).
  const std::vector<float> params = {1, 0, 0, 0, 1, 0, 0, 0, 0.5f};
  const std::vector<float> x = {2, 0, 0, 2, 1, 1, 0.1f, 0.2f};
  const std::vector<int32_t> labels = {0, 1, 1, 2};
  // 2800 samples span three internal batches of 1024.
  std::vector<float> big_x;
  std::vector<int32_t> big_labels;
  for (int r = 0; r < 700; ++r) {
    big_x.insert(big_x.end(), x.begin(), x.end());
    big_labels.insert(big_labels.end(), labels.begin(), labels.end());
  }
  double per_sample_sum = 0.0;
  for (size_t i = 0; i < 2800; ++i)
    per_sample_sum += mlp.Loss(params.data(), big_x.data() + 2 * i, big_labels.data() + i, 1);
  const Mlp::Evaluation e = mlp.Evaluate(params.data(), big_x.data(), big_labels.data(), 2800);
  CHECK(e.correct == 2 * 700 + 700);  // samples 0, 1 and 3 of every four
  CHECK(e.loss_sum == Approx(per_sample_sum).epsilon(1e-9));
  // The softmax loss of sample 0 by hand: z = [2, 0, 0.5].
  const double z0 = std::log(std::exp(2.0) + std::exp(0.0) + std::exp(0.5)) - 2.0;
  CHECK(mlp.Evaluate(params.data(), x.data(), labels.data(), 1).loss_sum == Approx(z0));
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

// ---- ForwardBackward with MlpHooks ----

struct KeyRange {
  uint64_t begin;
  uint64_t end;
  bool operator==(const KeyRange&) const = default;
};

std::ostream& operator<<(std::ostream& os, const KeyRange& r) {
  return os << "[" << r.begin << ", " << r.end << ")";
}

// The row blocks of weight tensor w for block_keys and min_block_rows, as
// documented on MlpHooks. The tests below pass min_rows = 1 (every block as
// thin as block_keys asks) unless they test the merging of thin blocks.
std::vector<KeyRange> WeightBlocks(const TensorInfo& w, uint64_t block_keys, uint64_t min_rows) {
  uint64_t rows =
      block_keys == 0 ? w.rows
                      : std::min<uint64_t>(w.rows, std::max<uint64_t>(1, block_keys / w.cols));
  if (rows < min_rows && rows < w.rows) {
    const uint64_t blocks = std::max<uint64_t>(1, w.rows / min_rows);
    rows = (w.rows + blocks - 1) / blocks;
  }
  std::vector<KeyRange> blocks;
  for (uint64_t r = 0; r < w.rows; r += rows) {
    blocks.push_back({w.offset + r * w.cols, w.offset + std::min(r + rows, w.rows) * w.cols});
  }
  return blocks;
}

// Hooks without callbacks: only the blocking.
MlpHooks Blocked(uint64_t block_keys, uint64_t min_rows = 1) {
  MlpHooks hooks;
  hooks.block_keys = block_keys;
  hooks.min_block_rows = min_rows;
  return hooks;
}

KeyRange Whole(const TensorInfo& t) { return {t.offset, t.offset + t.size()}; }

// Forward order: per layer from the first, the weight row blocks, then the bias.
std::vector<KeyRange> ExpectedWaits(const ModelLayout& layout, uint64_t block_keys,
                                    uint64_t min_rows = 1) {
  std::vector<KeyRange> out;
  for (size_t l = 0; l < layout.num_layers(); ++l) {
    for (const KeyRange& r : WeightBlocks(layout.tensors()[2 * l], block_keys, min_rows))
      out.push_back(r);
    out.push_back(Whole(layout.tensors()[2 * l + 1]));
  }
  return out;
}

// Backward order: per layer from the last, the bias, then the weight row blocks.
std::vector<KeyRange> ExpectedGrads(const ModelLayout& layout, uint64_t block_keys,
                                    uint64_t min_rows = 1) {
  std::vector<KeyRange> out;
  for (size_t l = layout.num_layers(); l-- > 0;) {
    out.push_back(Whole(layout.tensors()[2 * l + 1]));
    for (const KeyRange& r : WeightBlocks(layout.tensors()[2 * l], block_keys, min_rows))
      out.push_back(r);
  }
  return out;
}

// True if the ranges, in any order, cover [0, total) with no overlap or gap.
bool TilesExactly(std::vector<KeyRange> ranges, uint64_t total) {
  std::sort(ranges.begin(), ranges.end(),
            [](const KeyRange& a, const KeyRange& b) { return a.begin < b.begin; });
  uint64_t next = 0;
  for (const KeyRange& r : ranges) {
    if (r.begin != next || r.end <= r.begin) return false;
    next = r.end;
  }
  return next == total;
}

// got matches want up to float rounding: a relative tolerance per entry plus
// an absolute one scaled by the largest entry (for sums that cancel).
void CheckClose(const std::vector<float>& got, const std::vector<float>& want) {
  REQUIRE(got.size() == want.size());
  float scale = 0.0f;
  for (float v : want) scale = std::max(scale, std::abs(v));
  size_t mismatches = 0;
  for (size_t k = 0; k < want.size(); ++k) {
    if (!(std::abs(got[k] - want[k]) <= 1e-4f * std::abs(want[k]) + 1e-5f * scale)) {
      if (++mismatches <= 10) UNSCOPED_INFO("key " << k << ": " << got[k] << " vs " << want[k]);
    }
  }
  CHECK(mismatches == 0);
}

// Records the hook calls of one pass. The pass sees a copy of the params that
// is NaN until wait_params copies the real values in, so any read of a param
// before its wait shows up in the result; grad_ready snapshots the reported
// range, to check later that it was already final.
struct HookRecorder {
  HookRecorder(const std::vector<float>& real, std::vector<float>& grad)
      : real(real),
        grad(grad),
        visible(real.size(), std::numeric_limits<float>::quiet_NaN()),
        snapshot(grad.size(), std::numeric_limits<float>::quiet_NaN()) {}

  MlpHooks Hooks(uint64_t block_keys, uint64_t min_rows = 1) {
    MlpHooks hooks;
    hooks.block_keys = block_keys;
    hooks.min_block_rows = min_rows;
    hooks.wait_params = [this](uint64_t begin, uint64_t end) {
      waits.push_back({begin, end});
      if (!grads.empty()) wait_after_grad = true;
      if (begin <= end && end <= real.size()) {
        std::copy(real.begin() + begin, real.begin() + end, visible.begin() + begin);
      }
      return Status::OK();
    };
    hooks.grad_ready = [this](uint64_t begin, uint64_t end) {
      grads.push_back({begin, end});
      if (begin <= end && end <= grad.size()) {
        std::copy(grad.begin() + begin, grad.begin() + end, snapshot.begin() + begin);
      }
      return Status::OK();
    };
    return hooks;
  }

  const std::vector<float>& real;
  std::vector<float>& grad;
  std::vector<float> visible;   // the params the pass is given
  std::vector<float> snapshot;  // grad values as reported by grad_ready
  std::vector<KeyRange> waits;
  std::vector<KeyRange> grads;
  bool wait_after_grad = false;
};

// Bitwise equality that also treats NaN == NaN (a NaN shows an unwaited read).
bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST_CASE("Mlp: hooks with whole tensors give the plain call's bits, blocks only round",
          "[worker]") {
  std::mt19937 rng(17);
  for (const std::vector<uint32_t>& sizes :
       {std::vector<uint32_t>{784, 128, 10}, std::vector<uint32_t>{20, 7, 5, 3}}) {
    for (Activation act : {Activation::kRelu, Activation::kTanh, Activation::kSigmoid}) {
      INFO(sizes.size() << " layers, in " << sizes[0] << ", " << Name(act));
      Mlp mlp = MakeMlp(sizes, act);
      const size_t n = 64, total = mlp.layout().total();
      const float init = sizes[0] > 100 ? 0.1f : 1.0f;
      const std::vector<float> params = Uniform(total, -init, init, rng);
      const std::vector<float> x = Uniform(n * mlp.num_inputs(), -1.0f, 1.0f, rng);
      const std::vector<int32_t> labels = RandomLabels(n, mlp.num_classes(), rng);
      std::vector<float> want(total);
      const double want_loss =
          mlp.ForwardBackward(params.data(), x.data(), labels.data(), n, want.data());

      const auto noop = [](uint64_t, uint64_t) { return Status::OK(); };
      for (uint64_t block_keys : {uint64_t{0}, uint64_t{16384}, uint64_t{100}}) {
        INFO("block_keys " << block_keys);
        MlpHooks hooks;
        hooks.block_keys = block_keys;
        hooks.min_block_rows = 1;
        hooks.wait_params = noop;
        hooks.grad_ready = noop;
        std::vector<float> got(total, std::numeric_limits<float>::quiet_NaN());
        StatusOr<double> loss =
            mlp.ForwardBackward(params.data(), x.data(), labels.data(), n, got.data(), hooks);
        REQUIRE(loss.ok());
        // The same block_keys gives the same bits, with or without callbacks.
        std::vector<float> again(total);
        StatusOr<double> loss_again = mlp.ForwardBackward(params.data(), x.data(), labels.data(), n,
                                                          again.data(), Blocked(block_keys));
        REQUIRE(loss_again.ok());
        CHECK(*loss_again == *loss);
        CHECK(SameBits(again, got));
        if (block_keys == 0) {
          CHECK(*loss == want_loss);
          CHECK(SameBits(got, want));
        } else {
          CHECK(*loss == Approx(want_loss).epsilon(1e-6));
          CheckClose(got, want);
        }
      }
    }
  }
}

TEST_CASE("Mlp: blocked gradients match central finite differences", "[worker]") {
  std::mt19937 rng(43);
  for (Activation act : {Activation::kRelu, Activation::kTanh, Activation::kSigmoid}) {
    INFO(Name(act));
    Mlp mlp = MakeMlp({6, 5, 4, 3}, act);
    const size_t n = 3, total = mlp.layout().total();
    std::vector<float> params = Uniform(total, -1.0f, 1.0f, rng);
    const std::vector<float> x = Uniform(n * mlp.num_inputs(), -1.0f, 1.0f, rng);
    const std::vector<int32_t> labels = RandomLabels(n, mlp.num_classes(), rng);
    for (uint64_t block_keys : {uint64_t{1}, uint64_t{10}}) {
      INFO("block_keys " << block_keys);
      std::vector<float> grad(total, std::numeric_limits<float>::quiet_NaN());
      StatusOr<double> loss = mlp.ForwardBackward(params.data(), x.data(), labels.data(), n,
                                                  grad.data(), Blocked(block_keys));
      REQUIRE(loss.ok());
      CHECK(*loss == Approx(mlp.Loss(params.data(), x.data(), labels.data(), n)).epsilon(1e-6));
      CHECK(FiniteDifferenceMismatches(mlp, params, x, labels, grad) == 0);
    }
  }
}

// Runs one hooked pass on params poisoned until waited for, and checks the
// call order, the coverage, that reported gradients were final, and that the
// result has the bits of an unhooked pass with the same block_keys.
void CheckHookedPass(Mlp& mlp, uint64_t block_keys, const std::vector<float>& params,
                     const std::vector<float>& x, const std::vector<int32_t>& labels,
                     uint64_t min_rows = 1) {
  INFO("block_keys " << block_keys << ", min_block_rows " << min_rows << ", n " << labels.size());
  const size_t n = labels.size(), total = mlp.layout().total();
  std::vector<float> want(total);
  StatusOr<double> want_loss = mlp.ForwardBackward(params.data(), x.data(), labels.data(), n,
                                                   want.data(), Blocked(block_keys, min_rows));
  REQUIRE(want_loss.ok());

  std::vector<float> grad(total, std::numeric_limits<float>::quiet_NaN());
  HookRecorder rec(params, grad);
  StatusOr<double> loss = mlp.ForwardBackward(rec.visible.data(), x.data(), labels.data(), n,
                                              grad.data(), rec.Hooks(block_keys, min_rows));
  REQUIRE(loss.ok());
  CHECK(rec.waits == ExpectedWaits(mlp.layout(), block_keys, min_rows));
  CHECK(rec.grads == ExpectedGrads(mlp.layout(), block_keys, min_rows));
  CHECK(TilesExactly(rec.waits, total));
  CHECK(TilesExactly(rec.grads, total));
  CHECK_FALSE(rec.wait_after_grad);
  // Every param read was waited for, and every reported range was final.
  CHECK(*loss == *want_loss);
  CHECK(SameBits(grad, want));
  CHECK(SameBits(rec.snapshot, grad));
}

TEST_CASE("Mlp: hooks are called in the documented order, once per range", "[worker]") {
  std::mt19937 rng(23);
  {
    Mlp mlp = MakeMlp({784, 128, 10});
    const size_t total = mlp.layout().total();
    const std::vector<float> params = Uniform(total, -0.1f, 0.1f, rng);
    const std::vector<float> x = Uniform(64 * 784, 0.0f, 1.0f, rng);
    const std::vector<int32_t> labels = RandomLabels(64, 10, rng);
    // 16384 keys / 128 cols: 128-row blocks, so w0 (784 rows) has 7 blocks,
    // the last of 16 rows; w1 (128 x 10) is one block.
    const std::vector<KeyRange> waits = ExpectedWaits(mlp.layout(), 16384);
    REQUIRE(waits.size() == 7 + 1 + 1 + 1);
    CHECK(waits[0] == KeyRange{0, 128 * 128});
    CHECK(waits[6] == KeyRange{768 * 128, 784 * 128});
    CHECK(waits[7] == KeyRange{784 * 128, 784 * 128 + 128});
    CHECK(waits[9] == KeyRange{total - 10, total});
    CHECK(ExpectedGrads(mlp.layout(), 16384).front() == KeyRange{total - 10, total});
    for (uint64_t block_keys : {uint64_t{0}, uint64_t{16384}, uint64_t{4096}, uint64_t{100}}) {
      CheckHookedPass(mlp, block_keys, params, x, labels);
    }
  }
  for (Activation act : {Activation::kRelu, Activation::kTanh, Activation::kSigmoid}) {
    INFO(Name(act));
    Mlp mlp = MakeMlp({20, 7, 5, 3}, act);
    const std::vector<float> params = Uniform(mlp.layout().total(), -1.0f, 1.0f, rng);
    const std::vector<float> x = Uniform(50 * 20, -1.0f, 1.0f, rng);
    const std::vector<int32_t> labels = RandomLabels(50, 3, rng);
    // 1 and 10 keys give one-row blocks; 20 gives 2-row blocks for w0 (20 x 7)
    // and 4-row blocks for w1 (7 x 5), whose last block has 3 rows.
    for (uint64_t block_keys : {uint64_t{0}, uint64_t{1}, uint64_t{10}, uint64_t{20}}) {
      CheckHookedPass(mlp, block_keys, params, x, labels);
    }
  }
}

TEST_CASE("Mlp: hooks across internal batches are still called once per range", "[worker]") {
  std::mt19937 rng(29);
  Mlp mlp = MakeMlp({20, 7, 5, 3}, Activation::kTanh);
  const size_t n = 2500, total = mlp.layout().total();  // three internal batches of <= 1024
  const std::vector<float> params = Uniform(total, -1.0f, 1.0f, rng);
  const std::vector<float> x = Uniform(n * 20, -1.0f, 1.0f, rng);
  const std::vector<int32_t> labels = RandomLabels(n, 3, rng);
  std::vector<float> plain(total);
  const double plain_loss =
      mlp.ForwardBackward(params.data(), x.data(), labels.data(), n, plain.data());
  for (uint64_t block_keys : {uint64_t{0}, uint64_t{10}}) {
    CheckHookedPass(mlp, block_keys, params, x, labels);
    std::vector<float> grad(total);
    StatusOr<double> loss = mlp.ForwardBackward(params.data(), x.data(), labels.data(), n,
                                                grad.data(), Blocked(block_keys));
    REQUIRE(loss.ok());
    if (block_keys == 0) {
      CHECK(*loss == plain_loss);
      CHECK(SameBits(grad, plain));
    } else {
      CHECK(*loss == Approx(plain_loss).epsilon(1e-6));
      CheckClose(grad, plain);
    }
  }
}

TEST_CASE("Mlp: with n == 0 hooks get every gradient range and no wait", "[worker]") {
  Mlp mlp = MakeMlp({20, 7, 5, 3});
  const size_t total = mlp.layout().total();
  const std::vector<float> params(total, 0.5f);
  std::vector<float> grad(total, 7.0f);
  HookRecorder rec(params, grad);
  StatusOr<double> loss =
      mlp.ForwardBackward(params.data(), nullptr, nullptr, 0, grad.data(), rec.Hooks(10));
  REQUIRE(loss.ok());
  CHECK(*loss == 0.0);
  CHECK(std::all_of(grad.begin(), grad.end(), [](float g) { return g == 0.0f; }));
  CHECK(rec.waits.empty());
  CHECK(rec.grads == ExpectedGrads(mlp.layout(), 10));
  CHECK(SameBits(rec.snapshot, grad));
}

// One pass with a params_free hook that overwrites each released range of
// the params the pass reads with NaN: the pass must give the bits of the same
// pass without the hook (no param is read after its release), and the
// released ranges must tile the key space.
void CheckReleasedParams(Mlp& mlp, uint64_t block_keys, const std::vector<float>& params,
                         const std::vector<float>& x, const std::vector<int32_t>& labels) {
  INFO("block_keys " << block_keys);
  const size_t total = mlp.layout().total(), n = labels.size();
  std::vector<float> want(total);
  StatusOr<double> want_loss = mlp.ForwardBackward(params.data(), x.data(), labels.data(), n,
                                                   want.data(), Blocked(block_keys));
  REQUIRE(want_loss.ok());
  std::vector<float> visible = params, grad(total);
  std::vector<KeyRange> freed;
  MlpHooks hooks = Blocked(block_keys);
  hooks.params_free = [&](uint64_t begin, uint64_t end) {
    freed.push_back({begin, end});
    if (begin <= end && end <= total)
      std::fill(visible.begin() + begin, visible.begin() + end,
                std::numeric_limits<float>::quiet_NaN());
    return Status::OK();
  };
  StatusOr<double> loss =
      mlp.ForwardBackward(visible.data(), x.data(), labels.data(), n, grad.data(), hooks);
  REQUIRE(loss.ok());
  CHECK(TilesExactly(freed, total));
  CHECK(*loss == *want_loss);
  CHECK(SameBits(grad, want));
}

TEST_CASE("Mlp: params are released once, after their last read", "[worker]") {
  std::mt19937 rng(37);
  {
    Mlp mlp = MakeMlp({784, 128, 10});
    const std::vector<float> params = Uniform(mlp.layout().total(), -0.1f, 0.1f, rng);
    const std::vector<float> x = Uniform(64 * 784, 0.0f, 1.0f, rng);
    const std::vector<int32_t> labels = RandomLabels(64, 10, rng);
    for (uint64_t block_keys : {uint64_t{0}, uint64_t{16384}, uint64_t{100}})
      CheckReleasedParams(mlp, block_keys, params, x, labels);
  }
  for (Activation act : {Activation::kRelu, Activation::kTanh, Activation::kSigmoid}) {
    INFO(Name(act));
    Mlp mlp = MakeMlp({20, 7, 5, 3}, act);
    const std::vector<float> params = Uniform(mlp.layout().total(), -1.0f, 1.0f, rng);
    // 2500 samples: three internal batches, so params are read three times.
    for (size_t n : {size_t{50}, size_t{2500}}) {
      const std::vector<float> x = Uniform(n * 20, -1.0f, 1.0f, rng);
      const std::vector<int32_t> labels = RandomLabels(n, 3, rng);
      for (uint64_t block_keys : {uint64_t{0}, uint64_t{1}, uint64_t{20}})
        CheckReleasedParams(mlp, block_keys, params, x, labels);
    }
  }
  {  // One layer (softmax regression): the weights are free after the forward pass.
    Mlp mlp = MakeMlp({20, 3});
    const std::vector<float> params = Uniform(mlp.layout().total(), -1.0f, 1.0f, rng);
    const std::vector<float> x = Uniform(30 * 20, -1.0f, 1.0f, rng);
    const std::vector<int32_t> labels = RandomLabels(30, 3, rng);
    CheckReleasedParams(mlp, 0, params, x, labels);
    CheckReleasedParams(mlp, 6, params, x, labels);
  }
  {  // n == 0 reads nothing: everything is free at once.
    Mlp mlp = MakeMlp({20, 7, 3});
    std::vector<float> grad(mlp.layout().total());
    std::vector<KeyRange> freed;
    MlpHooks hooks;
    hooks.params_free = [&](uint64_t begin, uint64_t end) {
      freed.push_back({begin, end});
      return Status::OK();
    };
    REQUIRE(mlp.ForwardBackward(nullptr, nullptr, nullptr, 0, grad.data(), hooks).ok());
    CHECK(freed == std::vector<KeyRange>{{0, mlp.layout().total()}});
  }
}

TEST_CASE("Mlp: a hook's error aborts the pass and is returned", "[worker]") {
  std::mt19937 rng(31);
  Mlp mlp = MakeMlp({20, 7, 5, 3});
  const size_t n = 16, total = mlp.layout().total();
  const std::vector<float> params = Uniform(total, -1.0f, 1.0f, rng);
  const std::vector<float> x = Uniform(n * 20, -1.0f, 1.0f, rng);
  const std::vector<int32_t> labels = RandomLabels(n, 3, rng);
  std::vector<float> grad(total);
  const size_t num_ranges = ExpectedWaits(mlp.layout(), 20).size();
  REQUIRE(num_ranges > 3);

  // Fails the fail_at-th call (1-based) of one hook; counts the calls of both.
  for (size_t fail_at : {size_t{1}, size_t{3}, num_ranges}) {
    INFO("fail at call " << fail_at);
    size_t waits = 0, grads = 0;
    MlpHooks ok_hooks;
    ok_hooks.block_keys = 20;
    ok_hooks.min_block_rows = 1;
    ok_hooks.wait_params = [&](uint64_t, uint64_t) {
      ++waits;
      return Status::OK();
    };
    ok_hooks.grad_ready = [&](uint64_t, uint64_t) {
      ++grads;
      return Status::OK();
    };

    MlpHooks hooks = ok_hooks;
    hooks.wait_params = [&](uint64_t, uint64_t) {
      return ++waits == fail_at ? Status::Unavailable("pull timed out") : Status::OK();
    };
    StatusOr<double> loss =
        mlp.ForwardBackward(params.data(), x.data(), labels.data(), n, grad.data(), hooks);
    CHECK(loss.status().code() == StatusCode::kUnavailable);
    CHECK(loss.status().message() == "pull timed out");
    CHECK(waits == fail_at);
    CHECK(grads == 0);

    waits = grads = 0;
    hooks = ok_hooks;
    hooks.grad_ready = [&](uint64_t, uint64_t) {
      return ++grads == fail_at ? Status::Aborted("push rejected") : Status::OK();
    };
    loss = mlp.ForwardBackward(params.data(), x.data(), labels.data(), n, grad.data(), hooks);
    CHECK(loss.status().code() == StatusCode::kAborted);
    CHECK(loss.status().message() == "push rejected");
    CHECK(waits == num_ranges);
    CHECK(grads == fail_at);

    waits = grads = 0;
    loss = mlp.ForwardBackward(params.data(), nullptr, nullptr, 0, grad.data(), hooks);
    CHECK(loss.status().code() == StatusCode::kAborted);
    CHECK(waits == 0);
    CHECK(grads == fail_at);
  }
  // The Mlp is still usable after an aborted pass.
  std::vector<float> want(total);
  const double want_loss =
      mlp.ForwardBackward(params.data(), x.data(), labels.data(), n, want.data());
  StatusOr<double> loss =
      mlp.ForwardBackward(params.data(), x.data(), labels.data(), n, grad.data(), MlpHooks{});
  REQUIRE(loss.ok());
  CHECK(*loss == want_loss);
  CHECK(SameBits(grad, want));
}

}  // namespace
}  // namespace pst

namespace pst {
namespace {

Mlp MakeMlpWithLoss(std::vector<uint32_t> sizes, Activation act, LossKind loss) {
  ModelSpec spec;
  spec.layer_sizes = std::move(sizes);
  spec.activation = act;
  spec.loss = loss;
  auto mlp = Mlp::Create(spec);
  REQUIRE(mlp.ok());
  return std::move(mlp).value();
}

TEST_CASE("Mlp: squared and logistic losses have gradients matching finite differences",
          "[worker]") {
  std::mt19937 rng(7);
  for (LossKind loss : {LossKind::kSquared, LossKind::kLogistic}) {
    for (const std::vector<uint32_t>& sizes :
         {std::vector<uint32_t>{6, 3}, std::vector<uint32_t>{5, 4, 3}}) {
      for (Activation act : {Activation::kRelu, Activation::kTanh, Activation::kSigmoid}) {
        Mlp mlp = MakeMlpWithLoss(sizes, act, loss);
        const size_t n = 3, total = mlp.layout().total();
        std::vector<float> params = Uniform(total, -1.0f, 1.0f, rng);
        const std::vector<float> x = Uniform(n * mlp.num_inputs(), -1.0f, 1.0f, rng);
        const std::vector<int32_t> labels = RandomLabels(n, mlp.num_classes(), rng);
        std::vector<float> grad(total, std::numeric_limits<float>::quiet_NaN());
        const double l = mlp.ForwardBackward(params.data(), x.data(), labels.data(), n, grad.data());
        INFO(LossKindName(loss) << ", " << sizes.size() << " layers, " << Name(act));
        CHECK(l == Approx(mlp.Loss(params.data(), x.data(), labels.data(), n)).epsilon(1e-6));
        CHECK(FiniteDifferenceMismatches(mlp, params, x, labels, grad) == 0);
      }
    }
  }
}

TEST_CASE("Mlp: squared and logistic losses of a hand-computed linear model", "[worker]") {
  // {2, 2}: z = x * W + b with W = [[1, 0], [0, 2]], b = [0.5, -1], x = (1, 1): z = (1.5, 1).
  const std::vector<float> params{1, 0, 0, 2, 0.5f, -1};
  const std::vector<float> x{1, 1};
  const std::vector<int32_t> y{0};
  std::vector<float> grad(6);
  {
    // Linear regression on one-hot targets (1, 0): 0.5 * (0.5^2 + 1^2) = 0.625.
    Mlp mlp = MakeMlpWithLoss({2, 2}, Activation::kRelu, LossKind::kSquared);
    CHECK(mlp.ForwardBackward(params.data(), x.data(), y.data(), 1, grad.data()) == Approx(0.625));
    // d/dz = (0.5, 1); dW = x^T d = [[0.5, 1], [0.5, 1]]; db = d.
    CHECK(grad == std::vector<float>{0.5f, 1, 0.5f, 1, 0.5f, 1});
  }
  {
    // Logistic regression: softplus(1.5) - 1.5 + softplus(1).
    Mlp mlp = MakeMlpWithLoss({2, 2}, Activation::kRelu, LossKind::kLogistic);
    const double want = std::log1p(std::exp(1.5)) - 1.5 + std::log1p(std::exp(1.0));
    CHECK(mlp.ForwardBackward(params.data(), x.data(), y.data(), 1, grad.data()) == Approx(want));
    const float d0 = 1 / (1 + std::exp(-1.5f)) - 1, d1 = 1 / (1 + std::exp(-1.0f));
    CHECK(grad[4] == Approx(d0));
    CHECK(grad[5] == Approx(d1));
    CHECK(grad[0] == Approx(d0));
  }
}

}  // namespace
}  // namespace pst

namespace pst {
namespace {

TEST_CASE("Mlp: thin row blocks are merged into blocks of at least min_block_rows", "[worker]") {
  std::mt19937 rng(47);
  Mlp mlp = MakeMlp({784, 128, 10});
  const ModelLayout& layout = mlp.layout();
  const size_t n = 64, total = layout.total();
  const std::vector<float> params = Uniform(total, -0.1f, 0.1f, rng);
  const std::vector<float> x = Uniform(n * 784, 0.0f, 1.0f, rng);
  const std::vector<int32_t> labels = RandomLabels(n, 10, rng);
  // The default model at the default 2^16-key transfer blocks: 512-row blocks
  // of w0, tall enough to be kept, so the default minimum changes no range and
  // no bit of it.
  REQUIRE(MlpHooks{}.min_block_rows == kMinBlockRows);
  CHECK(ExpectedWaits(layout, 65536, kMinBlockRows) == ExpectedWaits(layout, 65536, 1));
  CHECK(ExpectedWaits(layout, 65536, 1)[0] == KeyRange{0, 512 * 128});
  std::vector<float> kept(total), thin_allowed(total);
  StatusOr<double> kept_loss = mlp.ForwardBackward(params.data(), x.data(), labels.data(), n,
                                                   kept.data(), Blocked(65536, kMinBlockRows));
  StatusOr<double> old_loss = mlp.ForwardBackward(params.data(), x.data(), labels.data(), n,
                                                  thin_allowed.data(), Blocked(65536, 1));
  REQUIRE(kept_loss.ok());
  REQUIRE(old_loss.ok());
  CHECK(*kept_loss == *old_loss);
  CHECK(SameBits(kept, thin_allowed));

  // 100 keys would be 1-row blocks of w0: merged into 784 / 256 = 3 blocks of
  // 262 rows (the last 260); w1 (128 x 10, 10 rows per 100 keys) into one.
  const std::vector<KeyRange> waits = ExpectedWaits(layout, 100, kMinBlockRows);
  REQUIRE(waits.size() == 3 + 1 + 1 + 1);
  CHECK(waits[0] == KeyRange{0, 262 * 128});
  CHECK(waits[1] == KeyRange{262 * 128, 524 * 128});
  CHECK(waits[2] == KeyRange{524 * 128, 784 * 128});
  CHECK(waits[4] == KeyRange{784 * 128 + 128, 784 * 128 + 128 + 1280});
  CheckHookedPass(mlp, 100, params, x, labels, kMinBlockRows);
  // The merged blocks compute exactly what blocks of that height asked for
  // directly compute.
  std::vector<float> merged(total), direct(total);
  StatusOr<double> merged_loss = mlp.ForwardBackward(params.data(), x.data(), labels.data(), n,
                                                     merged.data(), Blocked(100, kMinBlockRows));
  StatusOr<double> direct_loss = mlp.ForwardBackward(params.data(), x.data(), labels.data(), n,
                                                     direct.data(), Blocked(262 * 128, 1));
  REQUIRE(merged_loss.ok());
  REQUIRE(direct_loss.ok());
  CHECK(*merged_loss == *direct_loss);
  CHECK(SameBits(merged, direct));
  // And only round against whole tensors.
  std::vector<float> whole(total);
  const double whole_loss =
      mlp.ForwardBackward(params.data(), x.data(), labels.data(), n, whole.data());
  CHECK(*merged_loss == Approx(whole_loss).epsilon(1e-6));
  CheckClose(merged, whole);
}

TEST_CASE("Mlp: a tensor with fewer rows than min_block_rows is one block", "[worker]") {
  std::mt19937 rng(53);
  Mlp mlp = MakeMlp({20, 7, 5, 3}, Activation::kTanh);
  const std::vector<float> params = Uniform(mlp.layout().total(), -1.0f, 1.0f, rng);
  const std::vector<float> x = Uniform(30 * 20, -1.0f, 1.0f, rng);
  const std::vector<int32_t> labels = RandomLabels(30, 3, rng);
  // An 8-row minimum: w0 (20 rows of 7 keys; 10 keys = 1 row) in 2 blocks of
  // 10 rows; w1 (7 x 5, 2 rows per 10 keys) and w2 (5 x 3) whole.
  const std::vector<KeyRange> waits = ExpectedWaits(mlp.layout(), 10, 8);
  REQUIRE(waits.size() == 2 + 1 + 1 + 1 + 1 + 1);
  CHECK(waits[0] == KeyRange{0, 10 * 7});
  CHECK(waits[1] == KeyRange{10 * 7, 20 * 7});
  CHECK(waits[3] == Whole(mlp.layout().tensors()[2]));
  CHECK(waits[5] == Whole(mlp.layout().tensors()[4]));
  for (uint64_t min_rows : {uint64_t{8}, uint64_t{1000}}) {
    CheckHookedPass(mlp, 10, params, x, labels, min_rows);
  }
}

}  // namespace
}  // namespace pst
