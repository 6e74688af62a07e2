#include "bench/plain_trainer.h"

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

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
  auto uniform = [&](std::vector<float>& w, double limit) {
    std::uniform_real_distribution<float> d(float(-limit), float(limit));
    for (float& x : w) x = d(rng);
  };
  std::vector<float> w0(size_t(in) * hid), b0(hid, 0.0f), w1(size_t(hid) * out), b1(out, 0.0f);
  uniform(w0, std::sqrt(6.0 / in));  // He uniform
  uniform(w1, std::sqrt(6.0 / hid));
  std::vector<float> gw0(w0.size()), gb0(hid), gw1(w1.size()), gb1(out);
  Adam aw0(w0.size()), ab0(b0.size()), aw1(w1.size()), ab1(b1.size());
  const int bs = static_cast<int>(o.batch_size);
  std::vector<float> x(size_t(bs) * in), h(size_t(bs) * hid), z(size_t(bs) * out), dh(h.size());
  std::vector<uint32_t> order(train.num_samples);
  std::iota(order.begin(), order.end(), 0u);

  auto forward = [&](const float* xs, int n) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, hid, in, 1.0f, xs, in, w0.data(),
                hid, 0.0f, h.data(), hid);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < hid; ++j) h[i * hid + j] = std::max(0.0f, h[i * hid + j] + b0[j]);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, out, hid, 1.0f, h.data(), hid,
                w1.data(), out, 0.0f, z.data(), out);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < out; ++j) z[i * out + j] += b1[j];
  };
  auto accuracy = [&]() {
    size_t correct = 0;
    for (size_t s = 0; s < test.num_samples; s += bs) {
      const int n = static_cast<int>(std::min<size_t>(bs, test.num_samples - s));
      forward(test.row(s), n);
      for (int i = 0; i < n; ++i) {
        const float* zi = &z[i * out];
        if (std::max_element(zi, zi + out) - zi == test.labels[s + i]) ++correct;
      }
    }
    return double(correct) / test.num_samples;
  };

  PlainTrainerResult r;
  uint64_t t = 0;
  const auto start = std::chrono::steady_clock::now();
  for (uint32_t epoch = 0; epoch < o.max_epochs; ++epoch) {
    std::shuffle(order.begin(), order.end(), rng);
    for (size_t s = 0; s < train.num_samples; s += bs) {
      const int n = static_cast<int>(std::min<size_t>(bs, train.num_samples - s));
      for (int i = 0; i < n; ++i)
        std::copy(train.row(order[s + i]), train.row(order[s + i]) + in, x.begin() + size_t(i) * in);
      forward(x.data(), n);
      // dz = (softmax(z) - onehot(y)) / n, in place.
      for (int i = 0; i < n; ++i) {
        float* zi = &z[i * out];
        const float mx = *std::max_element(zi, zi + out);
        float sum = 0;
        for (int j = 0; j < out; ++j) sum += (zi[j] = std::exp(zi[j] - mx));
        for (int j = 0; j < out; ++j) zi[j] /= sum;
        zi[train.labels[order[s + i]]] -= 1.0f;
        for (int j = 0; j < out; ++j) zi[j] /= n;
      }
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, hid, out, n, 1.0f, h.data(), hid,
                  z.data(), out, 0.0f, gw1.data(), out);
      std::fill(gb1.begin(), gb1.end(), 0.0f);
      for (int i = 0; i < n; ++i)
        for (int j = 0; j < out; ++j) gb1[j] += z[i * out + j];
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, hid, out, 1.0f, z.data(), out,
                  w1.data(), out, 0.0f, dh.data(), hid);
      std::fill(gb0.begin(), gb0.end(), 0.0f);
      for (int i = 0; i < n; ++i)
        for (int j = 0; j < hid; ++j) {
          float& d = dh[i * hid + j];
          if (h[i * hid + j] <= 0) d = 0;
          gb0[j] += d;
        }
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, in, hid, n, 1.0f, x.data(), in,
                  dh.data(), hid, 0.0f, gw0.data(), hid);
      ++t;
      aw0.Step(w0, gw0, o.learning_rate, t);
      ab0.Step(b0, gb0, o.learning_rate, t);
      aw1.Step(w1, gw1, o.learning_rate, t);
      ab1.Step(b1, gb1, o.learning_rate, t);
    }
    r.final_accuracy = accuracy();
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

}  // namespace pst::bench
