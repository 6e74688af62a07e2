#include "worker/gradient_clip.h"

#include <cmath>

namespace pst {

double ClipGradientSum(float* grad_sum, size_t n, size_t samples, float max_norm) {
  if (max_norm <= 0 || samples == 0) return 1.0;
  // Accumulated in double: a model can have millions of terms.
  double sq = 0;
  for (size_t i = 0; i < n; ++i) sq += double(grad_sum[i]) * grad_sum[i];
  const double norm = std::sqrt(sq) / double(samples);
  if (!(norm > max_norm)) return 1.0;
  const double scale = max_norm / norm;
  const float f = static_cast<float>(scale);
  for (size_t i = 0; i < n; ++i) grad_sum[i] *= f;
  return scale;
}

}  // namespace pst
