// Zipf-distributed ranks: P(k) proportional to 1 / k^s for k in [1, n], drawn
// in O(1) time and memory per sample by rejection-inversion (W. Hormann and
// G. Derflinger, "Rejection-inversion to generate variates from monotone
// discrete distributions", 1996), so n may be 10^8 or more. Deterministic for
// a seed. Not thread-safe (it owns its generator state); one per thread.
#pragma once

#include <cstdint>

#include "common/status.h"

namespace pst {

class ZipfSampler {
 public:
  // kInvalidArgument unless n >= 1 and s > 0 (finite).
  static StatusOr<ZipfSampler> Create(uint64_t n, double s, uint64_t seed);

  // The next rank in [1, n]; rank 1 is the most frequent.
  uint64_t Next();
  // A uniform double in [0, 1) from the same stream (also used internally).
  double NextUnit();

  uint64_t n() const { return n_; }
  double exponent() const { return s_; }

 private:
  ZipfSampler(uint64_t n, double s, uint64_t seed);
  double H(double x) const;
  double HIntegral(double x) const;
  double HIntegralInverse(double x) const;

  uint64_t n_;
  double s_;
  uint64_t state_;
  double h_integral_x1_;
  double h_integral_n_;
  double shortcut_;
};

}  // namespace pst
