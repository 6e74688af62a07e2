// Initial values of sparse embedding rows. A row depends only on (seed, id,
// dim), so every PS, every restore and every re-creation after eviction
// produce the same row, and a pull of a row nobody created yet can be answered
// without creating it.
#pragma once

#include <cstdint>

#include "common/status.h"

namespace pst {

enum class RowInitKind : uint8_t {
  kZeros = 0,
  kUniform = 1,  // uniform in [-scale, scale)
  kNormal = 2,   // normal with mean 0 and standard deviation scale
};

struct RowInit {
  // Distribution of the initial values. Default: uniform.
  RowInitKind kind = RowInitKind::kUniform;
  // Seed of the table's rows (tables should differ). Default: 1.
  uint64_t seed = 1;
  // Half-width (uniform) or standard deviation (normal). Default: 0.01.
  float scale = 0.01f;
};

// kInvalidArgument for an unknown kind or a scale that is negative, not finite or above 1e3.
Status ValidateRowInit(const RowInit& init);

// Writes row `id`'s initial values to out[0, dim). Value j is a function of
// (init, id, j) only (see common/hash.h for why it never changes).
void InitRow(const RowInit& init, uint64_t id, uint32_t dim, float* out);

}  // namespace pst
