// The order in which an epoch visits the training samples.
#pragma once

#include <cstdint>
#include <vector>

namespace pst {

// A permutation of [0, n) that depends only on (seed, epoch), identical on every
// machine and build (own generator and Fisher-Yates, not std::shuffle).
std::vector<uint32_t> EpochOrder(uint64_t n, uint64_t seed, uint32_t epoch);

}  // namespace pst
