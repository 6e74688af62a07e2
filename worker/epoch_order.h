// The order in which an epoch visits the training samples.
#pragma once

#include <cstdint>
#include <vector>

namespace pst {

// A permutation of [0, n) that depends only on (seed, epoch), identical on every
// machine and build (own generator and Fisher-Yates, not std::shuffle).
std::vector<uint32_t> EpochOrder(uint64_t n, uint64_t seed, uint32_t epoch);

// Where a batch starting at position `pos` of `epoch`'s order (of n samples)
// lies in the whole job's data order: what a BSP push carries so the servers
// sum a clock's pushes in data order (proto PushRequest.dataOrder).
inline uint64_t DataOrder(uint32_t epoch, uint64_t n, uint64_t pos) { return epoch * n + pos; }

}  // namespace pst
