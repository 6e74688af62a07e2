// A digest of the rows of sparse tables that does not depend on the order in
// which rows are visited: the sum (mod 2^64) over rows of XXH3-64 of the
// row's dim values and optimizer state, seeded with its table's number and
// its id. Equal sets of (table, id, row and state bytes) give equal digests;
// a changed, missing or extra row changes it (up to hash collisions). Lets a
// test check that a restored shard holds exactly the rows a checkpoint wrote.
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pst {

// The digest term of one row: `row_and_state` holds `stride` floats.
uint64_t SparseRowDigest(size_t table, uint64_t id, const float* row_and_state, size_t stride);

}  // namespace pst
