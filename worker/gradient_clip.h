// Gradient clipping by global norm, on a worker's gradient before it is pushed.
#pragma once

#include <cstddef>

namespace pst {

// grad_sum holds the sum over `samples` samples of per-sample gradients (as
// Mlp::ForwardBackward writes it), for every tensor of the model. If the
// L2 norm of the mean gradient (grad_sum / samples) exceeds max_norm, scales
// grad_sum so that it equals max_norm. Returns the factor applied (1 when the
// gradient was within bounds, or when max_norm <= 0 or samples == 0).
double ClipGradientSum(float* grad_sum, size_t n, size_t samples, float max_norm);

}  // namespace pst
