#include "worker/data/feature_hash.h"

#include <xxhash.h>

namespace pst {

uint64_t HashFeature(uint64_t space, std::string_view value) {
  return XXH3_64bits_withSeed(value.data(), value.size(), space);
}

uint64_t HashInts(uint64_t a, uint64_t b) {
  const uint64_t words[2] = {a, b};
  return XXH3_64bits(words, sizeof(words));
}

}  // namespace pst
