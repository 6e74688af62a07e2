// Feature hashing: turns a categorical string (a word, a Criteo category) into
// a uint64 id. XXH3-64 (libxxhash), whose output is fixed by its specification
// across versions and machines, so files hashed today and ids hashed by a
// worker tomorrow agree. Pure functions: thread-safe.
#pragma once

#include <cstdint>
#include <string_view>

namespace pst {

// The id of `value` in the id space `space` (e.g. a field index): different
// spaces give unrelated ids for the same string.
uint64_t HashFeature(uint64_t space, std::string_view value);

// Mixes two 64-bit integers into one well-spread 64-bit value (splitting a
// seed into per-record or per-field streams).
uint64_t HashInts(uint64_t a, uint64_t b);

}  // namespace pst
