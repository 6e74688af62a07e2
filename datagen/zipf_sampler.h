// Draws ranks 1..n with P(k) proportional to k^-s (Zipf), in O(1) time and
// memory per draw whatever n (up to 2^53), by rejection-inversion (Hörmann and
// Derflinger, "Rejection-inversion to generate variates from monotone discrete
// distributions", 1996). Thread-compatible: one sampler per thread.
#pragma once

#include <cstdint>
#include <random>

namespace pst {

class ZipfSampler {
 public:
  // REQUIRES: n >= 1, s > 0.
  ZipfSampler(uint64_t n, double s);

  // A rank in [1, n].
  uint64_t Sample(std::mt19937_64& rng) const;

 private:
  double H(double x) const;         // the density's envelope h(x) = x^-s
  double HIntegral(double x) const;  // an antiderivative of h
  double HIntegralInverse(double x) const;

  uint64_t n_;
  double s_;
  double h_integral_x1_;
  double h_integral_n_;
  double threshold_;
};

}  // namespace pst
