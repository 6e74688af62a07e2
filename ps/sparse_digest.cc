#include "ps/sparse_digest.h"

#include <xxhash.h>

namespace pst {

uint64_t SparseRowDigest(size_t table, uint64_t id, const float* row_and_state, size_t stride) {
  // Mixing the table number into the seed keeps equal rows of two tables apart.
  const uint64_t seed = id ^ (uint64_t{table} * 0x9E3779B97F4A7C15ull);
  return XXH3_64bits_withSeed(row_and_state, stride * sizeof(float), seed);
}

}  // namespace pst
