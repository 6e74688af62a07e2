#include "ps/sparse_row_init.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "common/hash.h"

namespace pst {

Status ValidateRowInit(const RowInit& init) {
  if (init.kind != RowInitKind::kZeros && init.kind != RowInitKind::kUniform &&
      init.kind != RowInitKind::kNormal) {
    return Status::InvalidArgument("row init: unknown kind");
  }
  if (!std::isfinite(init.scale) || init.scale < 0 || init.scale > 1e3f) {
    return Status::InvalidArgument("row init: scale must be in [0, 1000], got " +
                                   std::to_string(init.scale));
  }
  return Status::OK();
}

void InitRow(const RowInit& init, uint64_t id, uint32_t dim, float* out) {
  if (init.kind == RowInitKind::kZeros) {
    std::fill(out, out + dim, 0.0f);
    return;
  }
  // One counter-based stream per (seed, id); element j is its j-th value.
  const uint64_t base = Mix64(init.seed * 0x100000001b3ull ^ Mix64(id ^ 0x1417'0000'5eedull));
  const double scale = init.scale;
  for (uint32_t j = 0; j < dim; ++j) {
    const uint64_t h = Mix64(base + j);
    if (init.kind == RowInitKind::kUniform) {
      out[j] = float((2.0 * UnitInterval(h) - 1.0) * scale);
    } else {
      // Box-Muller from two uniforms; u1 in (0, 1] so the log is finite.
      const double u1 = 1.0 - UnitInterval(h);
      const double u2 = UnitInterval(Mix64(h));
      out[j] = float(scale * std::sqrt(-2.0 * std::log(u1)) * std::cos(2 * std::numbers::pi * u2));
    }
  }
}

}  // namespace pst
