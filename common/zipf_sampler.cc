#include "common/zipf_sampler.h"

#include <cmath>
#include <string>

#include "common/hash.h"

namespace pst {
namespace {

// log1p(x) / x, continuous at 0.
double Log1pOverX(double x) {
  return std::abs(x) > 1e-8 ? std::log1p(x) / x : 1 - x * (0.5 - x * (1.0 / 3 - 0.25 * x));
}
// expm1(x) / x, continuous at 0.
double Expm1OverX(double x) {
  return std::abs(x) > 1e-8 ? std::expm1(x) / x : 1 + x * 0.5 * (1 + x / 3 * (1 + 0.25 * x));
}

}  // namespace

StatusOr<ZipfSampler> ZipfSampler::Create(uint64_t n, double s, uint64_t seed) {
  if (n == 0 || !(s > 0) || !std::isfinite(s)) {
    return Status::InvalidArgument("zipf: need n >= 1 and a finite exponent > 0, got n=" +
                                   std::to_string(n) + " s=" + std::to_string(s));
  }
  return ZipfSampler(n, s, seed);
}

ZipfSampler::ZipfSampler(uint64_t n, double s, uint64_t seed)
    : n_(n), s_(s), state_(Mix64(seed)) {
  h_integral_x1_ = HIntegral(1.5) - 1;
  h_integral_n_ = HIntegral(double(n) + 0.5);
  shortcut_ = 2 - HIntegralInverse(HIntegral(2.5) - H(2));
}

double ZipfSampler::NextUnit() { return UnitInterval(Mix64(state_++)); }

// h(x) = x^-s, the unnormalised density the discrete pmf is squeezed under.
double ZipfSampler::H(double x) const { return std::exp(-s_ * std::log(x)); }

// The integral of h from 1 to x: (x^(1-s) - 1) / (1 - s), or log(x) at s = 1.
double ZipfSampler::HIntegral(double x) const {
  const double log_x = std::log(x);
  return Expm1OverX((1 - s_) * log_x) * log_x;
}

double ZipfSampler::HIntegralInverse(double x) const {
  double t = x * (1 - s_);
  if (t < -1) t = -1;  // rounding can push t just past the pole
  return std::exp(Log1pOverX(t) * x);
}

uint64_t ZipfSampler::Next() {
  // Draw u uniformly under the integral of h over [0.5, n + 0.5], invert to x,
  // round to the nearest rank k and accept when u falls under k's share; the
  // acceptance rate is high for every s, so the loop ends after ~1 iteration.
  for (;;) {
    const double u = h_integral_n_ + NextUnit() * (h_integral_x1_ - h_integral_n_);
    const double x = HIntegralInverse(u);
    double k = std::floor(x + 0.5);
    if (k < 1) k = 1;
    if (k > double(n_)) k = double(n_);
    if (k - x <= shortcut_ || u >= HIntegral(k + 0.5) - H(k)) return static_cast<uint64_t>(k);
  }
}

}  // namespace pst
