#include "bench/plain_trainer.h"

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "bench/bench_util.h"

namespace pst::bench {
namespace {

struct Adam {
  std::vector<float> m, v;
  explicit Adam(size_t n) : m(n, 0.0f), v(n, 0.0f) {}
  void Step(std::vector<float>& p, const std::vector<float>& g, float lr, uint64_t t) {
    const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    const float c1 = 1.0f - std::pow(b1, float(t)), c2 = 1.0f - std::pow(b2, float(t));
    for (size_t i = 0; i < p.size(); ++i) {
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      p[i] -= lr * (m[i] / c1) / (std::sqrt(v[i] / c2) + eps);
    }
  }
};

// The model and its buffers: one ReLU hidden layer, softmax output, Adam.
class PlainMlp {
 public:
  PlainMlp(int in, int hid, int out, int bs, std::mt19937_64& rng)
      : in_(in), hid_(hid), out_(out), w0_(size_t(in) * hid), b0_(hid, 0.0f),
        w1_(size_t(hid) * out), b1_(out, 0.0f), gw0_(w0_.size()), gb0_(hid), gw1_(w1_.size()),
        gb1_(out), aw0_(w0_.size()), ab0_(b0_.size()), aw1_(w1_.size()), ab1_(b1_.size()),
        x_(size_t(bs) * in), h_(size_t(bs) * hid), z_(size_t(bs) * out), dh_(h_.size()) {
    auto uniform = [&](std::vector<float>& w, double limit) {
      std::uniform_real_distribution<float> d(float(-limit), float(limit));
      for (float& x : w) x = d(rng);
    };
    uniform(w0_, std::sqrt(6.0 / in));  // He uniform
    uniform(w1_, std::sqrt(6.0 / hid));
  }

  // Logits of n samples into z_.
  void Forward(const float* xs, int n) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, hid_, in_, 1.0f, xs, in_,
                w0_.data(), hid_, 0.0f, h_.data(), hid_);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < hid_; ++j) h_[i * hid_ + j] = std::max(0.0f, h_[i * hid_ + j] + b0_[j]);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, out_, hid_, 1.0f, h_.data(), hid_,
                w1_.data(), out_, 0.0f, z_.data(), out_);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < out_; ++j) z_[i * out_ + j] += b1_[j];
  }

  // Test-set accuracy, in batches of bs.
  double Accuracy(const Dataset& test, int bs) {
    size_t correct = 0;
    for (size_t s = 0; s < test.num_samples; s += bs) {
      const int n = static_cast<int>(std::min<size_t>(bs, test.num_samples - s));
      Forward(test.row(s), n);
      for (int i = 0; i < n; ++i) {
        const float* zi = &z_[i * out_];
        if (std::max_element(zi, zi + out_) - zi == test.labels[s + i]) ++correct;
      }
    }
    return double(correct) / test.num_samples;
  }

  // The mean gradient of the samples order[0, n) of `train` into the g* buffers.
  void Gradient(const Dataset& train, const uint32_t* order, int n) {
    for (int i = 0; i < n; ++i)
      std::copy(train.row(order[i]), train.row(order[i]) + in_, x_.begin() + size_t(i) * in_);
    Forward(x_.data(), n);
    // dz = (softmax(z) - onehot(y)) / n, in place.
    for (int i = 0; i < n; ++i) {
      float* zi = &z_[i * out_];
      const float mx = *std::max_element(zi, zi + out_);
      float sum = 0;
      for (int j = 0; j < out_; ++j) sum += (zi[j] = std::exp(zi[j] - mx));
      for (int j = 0; j < out_; ++j) zi[j] /= sum;
      zi[train.labels[order[i]]] -= 1.0f;
      for (int j = 0; j < out_; ++j) zi[j] /= n;
    }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, hid_, out_, n, 1.0f, h_.data(), hid_,
                z_.data(), out_, 0.0f, gw1_.data(), out_);
    std::fill(gb1_.begin(), gb1_.end(), 0.0f);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < out_; ++j) gb1_[j] += z_[i * out_ + j];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, hid_, out_, 1.0f, z_.data(), out_,
                w1_.data(), out_, 0.0f, dh_.data(), hid_);
    std::fill(gb0_.begin(), gb0_.end(), 0.0f);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < hid_; ++j) {
        float& d = dh_[i * hid_ + j];
        if (h_[i * hid_ + j] <= 0) d = 0;
        gb0_[j] += d;
      }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, in_, hid_, n, 1.0f, x_.data(), in_,
                dh_.data(), hid_, 0.0f, gw0_.data(), hid_);
  }

  // Adam step t (1-based) with the gradient of the last Gradient call.
  void Update(float lr, uint64_t t) {
    aw0_.Step(w0_, gw0_, lr, t);
    ab0_.Step(b0_, gb0_, lr, t);
    aw1_.Step(w1_, gw1_, lr, t);
    ab1_.Step(b1_, gb1_, lr, t);
  }

 private:
  const int in_, hid_, out_;
  std::vector<float> w0_, b0_, w1_, b1_;
  std::vector<float> gw0_, gb0_, gw1_, gb1_;
  Adam aw0_, ab0_, aw1_, ab1_;
  std::vector<float> x_, h_, z_, dh_;
};

}  // namespace

StatusOr<PlainTrainerResult> TrainPlain(
    const Dataset& train, const Dataset& test, const PlainTrainerOptions& o,
    const std::function<void(uint32_t, double, double)>& on_epoch) {
  if (train.num_samples == 0 || test.num_samples == 0)
    return Status::InvalidArgument("plain trainer: empty data set");
  openblas_set_num_threads(1);  // as pstrain's workers
  const int in = static_cast<int>(train.num_features), hid = static_cast<int>(o.hidden);
  const int out = static_cast<int>(std::max(train.num_classes, test.num_classes));
  std::mt19937_64 rng(o.seed);
  const int bs = static_cast<int>(o.batch_size);
  PlainMlp model(in, hid, out, bs, rng);
  std::vector<uint32_t> order(train.num_samples);
  std::iota(order.begin(), order.end(), 0u);

  PlainTrainerResult r;
  uint64_t t = 0;
  const auto start = std::chrono::steady_clock::now();
  for (uint32_t epoch = 0; epoch < o.max_epochs; ++epoch) {
    std::shuffle(order.begin(), order.end(), rng);
    for (size_t s = 0; s < train.num_samples; s += bs) {
      const int n = static_cast<int>(std::min<size_t>(bs, train.num_samples - s));
      model.Gradient(train, &order[s], n);
      model.Update(o.learning_rate, ++t);
    }
    r.final_accuracy = model.Accuracy(test, bs);
    r.epochs = epoch + 1;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (on_epoch) on_epoch(r.epochs, r.final_accuracy, r.seconds);
    if (r.final_accuracy >= o.target_accuracy) {
      r.reached = true;
      break;
    }
  }
  return r;
}

StatusOr<PlainStepTimes> TimePlainSteps(const Dataset& train, const PlainTrainerOptions& o,
                                        uint32_t steps) {
  if (train.num_samples < o.batch_size || steps == 0)
    return Status::InvalidArgument("plain trainer: fewer samples than a batch, or no steps");
  openblas_set_num_threads(1);
  std::mt19937_64 rng(o.seed);
  const int bs = static_cast<int>(o.batch_size);
  PlainMlp model(static_cast<int>(train.num_features), static_cast<int>(o.hidden),
                 static_cast<int>(train.num_classes), bs, rng);
  std::vector<uint32_t> order(train.num_samples);
  std::iota(order.begin(), order.end(), 0u);
  const size_t batches = train.num_samples / o.batch_size;
  PlainStepTimes times;
  for (uint32_t i = 0; i <= steps; ++i) {  // step 0 warms up (first touch of every buffer)
    const auto t0 = std::chrono::steady_clock::now();
    model.Gradient(train, &order[(i % batches) * o.batch_size], bs);
    const auto t1 = std::chrono::steady_clock::now();
    model.Update(o.learning_rate, i + 1);
    if (i == 0) continue;
    times.compute_ms += 1e3 * std::chrono::duration<double>(t1 - t0).count() / steps;
    times.update_ms += 1e3 * Since(t1) / steps;
  }
  return times;
}

}  // namespace pst::bench
