// Stable 64-bit mixing. Outputs of these functions are part of pstrain's
// persistent contracts (initial parameter values, the virtual slot of a sparse
// id, initial embedding rows): changing them changes models and partitions that
// were already written. Never edit them; add a new function instead.
#pragma once

#include <cstdint>

namespace pst {

// The splitmix64 finaliser of x + golden ratio: a bijection on uint64 whose
// output bits all depend on every input bit. Counter-based: Mix64(seed + i) is
// the i-th value of a stream without any state.
inline uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// A uniform double in [0, 1) from the top 53 bits of h.
inline double UnitInterval(uint64_t h) { return double(h >> 11) * 0x1.0p-53; }

// floor(h * n / 2^64): maps a uniform 64-bit hash to [0, n) without the bias
// or the division of h % n (Lemire's multiply-shift reduction).
inline uint32_t ReduceToRange(uint64_t h, uint32_t n) {
  return static_cast<uint32_t>((static_cast<unsigned __int128>(h) * n) >> 64);
}

}  // namespace pst
