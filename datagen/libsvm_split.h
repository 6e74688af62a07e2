// Writes a small labelled data set (held in memory by a converter) as two
// libsvm files, shuffled and split into train and test with a seed, so the
// same command always gives the same files. Not for large data (the
// synthetic generator streams instead).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace pst {

struct LabelledSample {
  // 0 or 1.
  int label = 0;
  // (id, value) pairs; written in increasing id order.
  std::vector<std::pair<uint64_t, float>> features;
};

struct SplitCounts {
  uint64_t train = 0, test = 0;
  uint64_t train_positives = 0, test_positives = 0;
};

// Shuffles `samples` with std::mt19937_64(seed) (our own Fisher-Yates, so the
// order does not depend on the standard library), sends the first
// round(test_fraction * n) to test_path and the rest to train_path.
// kInvalidArgument for a test_fraction outside [0, 1), kUnavailable if a file
// cannot be written (the message names it).
StatusOr<SplitCounts> WriteShuffledSplit(std::vector<LabelledSample> samples, double test_fraction,
                                         uint64_t seed, const std::string& train_path,
                                         const std::string& test_path);

}  // namespace pst
